"""The background job runner the HTTP API uses for long upkeep."""

from __future__ import annotations

import threading
import time

import pytest

from memvault.errors import InvalidInput, NotFound
from memvault.maintenance.jobs import JobRunner


def test_jobs_run_in_order_and_report_progress_then_result():
    runner = JobRunner()
    gate = threading.Event()
    order = []

    def first(progress):
        progress("scan", 1, 2)
        gate.wait(30)
        order.append("first")
        return {"n": 1}

    def second(progress):
        order.append("second")
        return {"n": 2}

    a = runner.submit("one", {"x": 1}, first)
    b = runner.submit("two", {}, second)
    while runner.get(a.id).status == "queued":
        time.sleep(0.01)
    running = runner.get(a.id).to_dict()
    assert running["status"] == "running"
    assert running["progress"] == {"stage": "scan", "done": 1, "total": 2}
    assert runner.get(b.id).status == "queued"
    gate.set()
    assert runner.wait(b.id, 30).to_dict()["result"] == {"n": 2}
    assert runner.get(a.id).result == {"n": 1} and order == ["first", "second"]
    assert [j.id for j in runner.list()] == [a.id, b.id]


def test_a_failing_job_keeps_its_error_and_the_runner_goes_on():
    runner = JobRunner()

    def bad(progress):
        raise InvalidInput("threshold must be at most 1", field="threshold")

    def broken(progress):
        raise RuntimeError("disk on fire")

    failed = runner.wait(runner.submit("dedup", {}, bad).id, 30)
    assert failed.status == "failed"
    assert failed.error == {
        "code": "invalid_input",
        "message": "threshold must be at most 1",
        "field": "threshold",
    }
    crashed = runner.wait(runner.submit("dedup", {}, broken).id, 30)
    assert crashed.error["code"] == "internal" and "disk on fire" in crashed.error["message"]
    assert runner.wait(runner.submit("ok", {}, lambda p: 42).id, 30).result == 42
    with pytest.raises(NotFound):
        runner.get("job-nope")
