"""onnxruntime sessions on this machine's CPUs.

Two parts of memvault run ONNX graphs: the embedder (the model) and the
SQLite store's int8 scan (one MatMulInteger node). Both want every core this
process may use on each run, so the sizing lives here, below both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def cpu_count() -> int:
    """CPUs this process may run on (cgroup- and affinity-aware where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_session(model: Path | bytes, *, spin_within_runs: bool) -> Any:
    """An onnxruntime CPU session whose runs use every available core.

    ``spin_within_runs``: workers spin between the nodes of a run instead of
    sleeping, and stop when the run ends. Worth it for a graph of many small
    nodes (a short query through the model is ~60, and waking a sleeping
    worker for each cost 0.5 ms a query); a one-node graph gains nothing.
    Workers are never left spinning after a run: a search alternates ONNX with
    numpy and SQLite, and spinning workers starved them (a whole search at 10k
    measured 16 ms p50 with spinning after runs, 10.5 ms without).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One process, all cores on each matrix product: measured faster here than
    # several single-threaded workers, and it keeps single-query latency low.
    options.intra_op_num_threads = cpu_count()
    options.inter_op_num_threads = 1
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if spin_within_runs else "0"
    )
    if spin_within_runs:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
