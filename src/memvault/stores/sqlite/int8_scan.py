"""One query against many vectors in int8, through onnxruntime: the fast first pass.

A search over the in-process vector copy reads every vector once, so its
cost is memory traffic: 154 MB of float32 at 100k 384-d vectors, 7 to 10 ms
here. As int8 codes the same scan reads a quarter of that. numpy has no fast
integer matrix product, but onnxruntime's ``MatMulInteger`` runs the AVX2
kernels that run the int8 model, already loaded for embedding: about 2 ms at
100k. Each estimate comes with a bound on its error, so the caller can keep
every vector that may be among the best and rescore only those
(``vectors``).

Each vector is scaled so that its largest component is 127, whatever the
model. The query goes in as
uint8 with an offset of 128 (the kernel's fast pair is uint8 times int8, and
its own zero-point input is several times slower); the offset's share,
128 times each vector's code sum, is subtracted afterwards.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ...onnx_sessions import cpu_session

OFFSET = 128
# What ``quantize`` records of each vector besides its codes, in this order:
# OFFSET x the sum of its codes, what one code unit is worth, the length of
# what rounding lost, and the length of the quantized vector.
FACTS = 4
SCALE = 1  # the column of FACTS that holds what one code unit is worth
# The whole graph, MatMulInteger(query uint8 [1, n], columns int8 [n, m]) ->
# scores int32 [1, m], serialized (ONNX IR 8, opset 13) so that searching needs
# onnxruntime only and not the onnx package (12 MB of memory a process).
# tests/test_sqlite_store.py builds it again with onnx.helper and compares.
GRAPH = bytes.fromhex(
    "08083a7a0a270a0571756572790a07636f6c756d6e73120673636f726573220d4d61744d756c496e7465"
    "6765721209696e74385f7363616e5a150a057175657279120c0a0a080212060a0208010a005a150a07636f"
    "6c756d6e73120a0a08080312040a000a0062160a0673636f726573120c0a0a080612060a0208010a0042"
    "040a00100d"
)


def int8_codes(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, scales) of row vectors: each row scaled so that its largest component
    is 127 (or -127) and rounded; the row is about its codes times its scale."""
    peaks = np.maximum(np.abs(vectors).max(axis=1), 1e-12)
    scales = (peaks / 127.0).astype(np.float32)
    return np.round(vectors / scales[:, None]).astype(np.int8), scales


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, facts) of row vectors: int8 rows, and FACTS float32 numbers per row."""
    codes, scales = int8_codes(vectors)
    return codes, describe(codes, scales, vectors - codes * scales[:, None])


def describe(codes: np.ndarray, scales: np.ndarray, lost: np.ndarray | None) -> np.ndarray:
    """The FACTS of int8 rows; ``lost`` is what rounding took from each row (None: nothing,
    the codes are the vectors, as in a store that keeps int8)."""
    restored = codes * scales[:, None]
    facts = np.stack(
        [
            codes.sum(axis=1, dtype=np.int32) * OFFSET,
            scales,
            np.zeros(len(codes)) if lost is None else np.linalg.norm(lost, axis=1),
            np.linalg.norm(restored, axis=1),
        ],
        axis=1,
    )
    return facts.astype(np.float32)


def estimate(
    vector: np.ndarray, columns: np.ndarray, facts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(estimates, bounds) of ``vector`` dotted with each vector that ``facts`` describes.

    ``columns`` holds the codes, one vector per column, at least as many
    columns as ``facts`` has rows (the rest are ignored). Each true product
    lies within its bound of its estimate, so a caller can keep every vector
    that may belong to the best k, and rescore only those.
    """
    peak = max(float(np.abs(vector).max()), 1e-12)
    query_scale = peak / 127.0
    query = np.round(vector / query_scale)
    query_error = float(np.linalg.norm(vector - query * query_scale))
    query_length = float(np.linalg.norm(query * query_scale))
    raw = _session().run(
        None, {"query": (query + OFFSET).astype(np.uint8)[None], "columns": columns}
    )[0][0]
    offsets, scales, errors, lengths = facts.T
    estimates = (raw[: len(facts)] - offsets) * (scales * query_scale)
    # Cauchy-Schwarz over both rounding errors: q.x - q'.x' = q'.(x - x')
    # + (q - q').x' + (q - q').(x - x').
    bounds = query_length * errors + query_error * (lengths + errors)
    return estimates, bounds


@functools.cache
def _session() -> Any:
    return cpu_session(GRAPH, spin_within_runs=False)
