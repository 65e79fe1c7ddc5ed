"""Progress on stderr: bars for moving memories, and for embedding a long memory.

Rich draws them live on a terminal; elsewhere (a pipe, a log) it prints each
bar's last state once when it stops. Commands with ``--json`` show none.
"""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..memory_vectors import EMBED_STEP
from .support import err_console


class RichProgress:
    """The ``transfer.progress.Progress`` protocol as rich progress bars on stderr."""

    def __init__(self) -> None:
        self._bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def start(self, label: str, total: int | None) -> None:
        self._task = self._bars.add_task(label, total=total)

    def advance(self, n: int) -> None:
        if self._task is not None:
            self._bars.advance(self._task, n)

    def finish(self) -> None:
        if self._task is not None:
            self._bars.update(self._task, total=self._bars.tasks[self._task].completed)
            self._task = None


class EmbeddingBar:
    """A ``ChunkProgress`` drawn as a bar once content takes more than one step of chunks
    (shorter content embeds in a moment, and shows nothing)."""

    def __init__(self) -> None:
        self._bars: RichProgress | None = None
        self._done = 0

    def __enter__(self) -> EmbeddingBar:
        return self

    def __call__(self, done: int, total: int) -> None:
        if total <= EMBED_STEP:
            return
        if self._bars is None:
            self._bars = RichProgress().__enter__()
            self._bars.start(f"Embedding {total} chunks", total)
        self._bars.advance(done - self._done)
        self._done = done

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.__exit__(*exc)
