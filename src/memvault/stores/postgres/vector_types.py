"""pgvector's ``vector`` type on psycopg's wire, in binary, without the pgvector package.

The binary form is small and exact: a 2-byte dimension, 2 unused bytes, then
big-endian float32s, so a 384-dimension vector is 1,540 bytes, where the text
form ``[0.0123,...]`` is about 4 KB that the server must parse. Binary also
lets bulk loads use ``COPY ... (FORMAT BINARY)``. The whole adapter is the two
classes below, so it is not worth a dependency.
"""

from __future__ import annotations

import struct

import numpy as np
from psycopg.abc import AdaptContext
from psycopg.adapt import Buffer, Dumper, Loader
from psycopg.pq import Format

_HEADER = struct.Struct(">HH")
_WIRE_FLOAT = np.dtype(">f4")


class VectorDumper(Dumper):
    """numpy array -> vector. Subclassed per database with the type's oid set."""

    format = Format.BINARY

    def dump(self, obj: np.ndarray) -> bytes:
        values = np.asarray(obj, dtype=_WIRE_FLOAT).reshape(-1)
        return _HEADER.pack(values.shape[0], 0) + values.tobytes()


class VectorLoader(Loader):
    """vector -> float32 numpy array."""

    format = Format.BINARY

    def load(self, data: Buffer) -> np.ndarray:
        dimension, _ = _HEADER.unpack_from(data)
        return np.frombuffer(data, dtype=_WIRE_FLOAT, count=dimension, offset=_HEADER.size).astype(
            np.float32
        )


def register_vector(context: AdaptContext, oid: int) -> None:
    """Make numpy arrays travel as ``vector`` (whose oid differs per database) and back."""
    dumper = type("VectorDumper", (VectorDumper,), {"oid": oid})
    context.adapters.register_dumper(np.ndarray, dumper)
    context.adapters.register_loader(oid, VectorLoader)
