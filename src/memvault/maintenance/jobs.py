"""Background jobs for long upkeep over a service: start now, ask for progress later.

One worker thread runs the jobs of a runner in order, so two destructive
operations never interleave on one store; reads go on meanwhile. Each job
records its progress (stage, done, total) from the operation's progress
callback, then its result or its error. Finished jobs are kept (the newest
``KEEP``) so a client can still fetch the result.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import MemvaultError, NotFound
from ..model import utcnow
from .oplog import Progress

KEEP = 200
_SHARED_LOCK = threading.Lock()

Work = Callable[[Progress], Any]


@dataclass
class Job:
    id: str
    kind: str
    params: dict[str, Any]
    status: str = "queued"
    stage: str | None = None
    done: int = 0
    total: int | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    created_at: str = field(default_factory=lambda: utcnow().isoformat())
    started_at: str | None = None
    finished_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "params": self.params,
            "status": self.status,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "progress": {"stage": self.stage, "done": self.done, "total": self.total},
            "result": self.result,
            "error": self.error,
        }


class JobRunner:
    """Runs submitted work one job at a time on a daemon thread."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._work: queue.Queue[tuple[Job, Work]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="memvault-jobs", daemon=True)
        self._thread.start()

    def submit(self, kind: str, params: dict[str, Any], work: Work) -> Job:
        """Queue ``work(progress)``; its return value (JSON-ready) becomes the result."""
        job = Job(id=f"job-{secrets.token_hex(6)}", kind=kind, params=params)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                oldest = next(iter(self._jobs.values()))
                if oldest.status in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        self._work.put((job, work))
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r} (jobs live in the server's memory)", field="job_id")
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def wait(self, job_id: str, timeout: float) -> Job:
        """The job once it has finished, or as it is after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        job = self.get(job_id)
        while job.status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.05)
        return job

    def _loop(self) -> None:
        while True:
            job, work = self._work.get()
            job.status, job.started_at = "running", utcnow().isoformat()

            def progress(stage: str, done: int, total: int | None, job: Job = job) -> None:
                job.stage, job.done, job.total = stage, done, total

            try:
                job.result = work(progress)
                job.status = "done"
            except MemvaultError as exc:
                job.error, job.status = exc.to_dict(), "failed"
            except Exception as exc:  # a job's crash must not kill the worker
                job.error = {
                    "code": "internal",
                    "message": f"{type(exc).__name__}: {exc}",
                    "field": None,
                }
                job.status = "failed"
            job.finished_at = utcnow().isoformat()


def shared_runner(holder: Any) -> JobRunner:
    """The runner kept on ``holder`` (an app's state), created on first use.

    Every interface of one server takes its runner from here, so their jobs
    queue on one worker and never interleave on the store.
    """
    with _SHARED_LOCK:
        if not hasattr(holder, "maintenance_jobs"):
            holder.maintenance_jobs = JobRunner()
        return holder.maintenance_jobs
