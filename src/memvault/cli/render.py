"""Human output of the CLI, made from the same dicts that ``--json`` prints.

Rendering from the JSON form keeps the two outputs in step: a field is added
to the data once and both show it. Stored text reaches the terminal only
through ``terminal_safe``, so an escape sequence someone stored is shown, not
obeyed (``--json`` output is escaped by JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..model import evidence

PREVIEW_CHARS = 160
# Every control character but tab and newline: C0 (ESC starts a terminal
# sequence, CR rewrites the line), DEL and C1 (0x9b is a one-byte ESC [).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(value: Any) -> Any:
    """``value`` with every string's control characters shown escaped (ESC as ``\\x1b``)."""
    if isinstance(value, str):
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    if isinstance(value, Mapping):
        return {terminal_safe(k): terminal_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [terminal_safe(v) for v in value]
    return value


def preview(content: str, limit: int = PREVIEW_CHARS) -> str:
    """Content on one line, cut to ``limit`` characters."""
    line = " ".join(content.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _minute(timestamp: str | None) -> str:
    return (timestamp or "")[:16].replace("T", " ")


def memories_view(
    memories: Iterable[Mapping[str, Any]], scores: Iterable[str] | None = None
) -> RenderableType:
    """Two lines per memory (score, id, time, type, tags; then the content) at any width."""
    blocks: list[RenderableType] = []
    score_texts = (f"{s}  " for s in scores) if scores is not None else repeat("")
    for memory, score in zip(memories, score_texts, strict=False):
        head = Text.assemble(
            (score, "bold"),
            (memory["id"], "bold cyan"),
            "  ",
            (_minute(memory.get("created_at")), "dim"),
            "  ",
            (memory.get("memory_type", ""), "green"),
            "  ",
            (" ".join(f"#{t}" for t in memory.get("tags", [])), "magenta"),
        )
        blocks.append(Group(head, Padding(Text(preview(memory["content"])), (0, 0, 1, 2))))
    return Group(*blocks)


def hits_view(data: Mapping[str, Any]) -> RenderableType:
    hits = data["hits"]
    scores = [
        f"{h['score']:.3f}" + (f" ({said})" if (said := evidence(h["parts"])) else "") for h in hits
    ]
    return (
        memories_view([h["memory"] for h in hits], scores=scores)
        if hits
        else Text("No matching memories.")
    )


def recall_view(data: Mapping[str, Any]) -> RenderableType:
    """The hits of a recall under the time window the phrase was read as."""
    window = Text(f"From {data['start']} to {data['end']}:", style="dim")
    return Group(window, hits_view(data))


def page_view(data: Mapping[str, Any]) -> RenderableType:
    """A page of memories, with the cursor to pass for the next page."""
    memories = data["memories"]
    parts: list[RenderableType] = [memories_view(memories) if memories else Text("No memories.")]
    if data.get("next_cursor"):
        parts.append(Text(f"More: --cursor {data['next_cursor']}", style="dim"))
    return Group(*parts)


def key_value_table(
    rows: Iterable[Sequence[Any]], *, title: str | None = None, headers: tuple[str, ...] = ()
) -> Table:
    table = Table(title=title, show_header=bool(headers), box=None)
    for header in headers or ("", ""):
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(Text(_plain(cell)) for cell in row))
    return table


def _plain(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def memory_view(memory: Mapping[str, Any]) -> RenderableType:
    """Every field of one memory, content in full."""
    rows = [(name, value) for name, value in memory.items() if name != "content"]
    return Group(key_value_table(rows), Text(""), Text(memory["content"]))


def stored_view(data: Mapping[str, Any]) -> RenderableType:
    memory = data["memory"]
    if data["created"]:
        return Text(f"Stored {memory['id']}")
    return Text(f"Already stored as {memory['id']} (same content)")


def stats_view(stats: Mapping[str, Any]) -> RenderableType:
    scalars = [(k, v) for k, v in stats.items() if not isinstance(v, dict | list)]
    parts: list[RenderableType] = [key_value_table(scalars, title="Vault")]
    for name in ("namespaces", "by_type", "per_month"):
        if stats.get(name):
            parts.append(
                key_value_table(
                    stats[name].items(), title=name, headers=(name.rstrip("s"), "count")
                )
            )
    if stats.get("top_tags"):
        parts.append(
            key_value_table(
                ((t["tag"], t["count"]) for t in stats["top_tags"]),
                title="top tags",
                headers=("tag", "count"),
            )
        )
    return Group(*parts)


def tags_view(data: Mapping[str, Any]) -> RenderableType:
    if not data["tags"]:
        return Text("No tags.")
    return key_value_table(((t["tag"], t["count"]) for t in data["tags"]), headers=("tag", "count"))


def health_view(health: Mapping[str, Any]) -> RenderableType:
    rows = [(k, v) for k, v in health.items() if k != "store"]
    rows += [(f"store.{k}", v) for k, v in health.get("store", {}).items()]
    return key_value_table(rows)


def settings_view(data: Mapping[str, Any]) -> RenderableType:
    return key_value_table(
        ((s["name"], s["value"], s["source"]) for s in data["settings"]),
        headers=("setting", "value", "source"),
    )
