"""How the SQLite store keeps a vector in its file: float16 or int8, fixed when the store is made.

- ``int8`` (``config.DEFAULT_SQLITE_VECTORS``): a little-endian float32
  scale, then one signed byte a dimension (388 bytes for 384): the vector
  scaled so that its largest component is 127 (or -127) and rounded
  (``int8_scan.int8_codes``); the scale is the vector's length (to float16's
  precision) over its codes' length. Scores move by about 3e-4 on average,
  1e-3 at the 99th percentile and 2.4e-3 at most (MiniLM vectors of the
  retrieval sets, against float32); a vector's score against itself is
  1 - 3e-5 (1 - 7e-5 at worst).
- ``float16``: two bytes a dimension, 768 for a 384-d vector. Scores move by
  about 1e-5 from float32's.

Why that int8 scheme. Symmetric (no zero point): a vector's dot product with
the query is its codes' dot product times its one scale, so the search's int8
first pass (``int8_scan``) runs on the file's codes as they are, and
rescoring multiplies codes by one number; a zero point would add a term per
vector. Per vector, not per dimension: a vector's own peak is known when it
is written and never changes, where ranges per dimension would come from the
vectors stored so far and go stale as memories arrive (or force rewriting
every vector). Codes up to the peak, so no component is clipped and every
one keeps the full 8 bits. A scale that keeps the length (rather than one
code unit's worth, peak / 127): a unit vector stays a unit vector, so a
score is still a cosine and never passes 1, and duplicate finding compares
cosines as before; reading a vector back and storing it again gives the
same codes.

A store records its precision in ``meta`` (``vector_precision``) when it is
created; stores made before the choice existed hold float16 (schema
migration 7; migration 8 records it). What a store records wins: asking an
existing store for another precision is refused, naming both. Reads give
float32 vectors either way (``values``): exports and backups carry the
stored values, dequantized.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import numpy as np

from ...config import DEFAULT_SQLITE_VECTORS, Settings
from ...errors import InvalidInput
from .int8_scan import describe, int8_codes, quantize

META_KEY = "vector_precision"
# What a store made before the precision could be chosen holds.
EARLIER = "float16"


@dataclass(frozen=True)
class Scannable:
    """Stored vectors in the form the in-process index holds them (``vectors``).

    ``rows`` are float16 copies to rescore from, or None where the codes are the
    stored vectors themselves and rescoring reads them.
    """

    codes: np.ndarray
    facts: np.ndarray
    rows: np.ndarray | None


class Float16:
    name = "float16"
    # The index rescores from float16 rows: the file's values.
    rescores_from_rows = True

    def blob(self, vector: np.ndarray) -> bytes:
        """A float32 vector as stored."""
        return np.asarray(vector, dtype=np.float16).tobytes()

    def values(self, blobs: bytes, dimension: int) -> np.ndarray:
        """The float32 values of stored vectors (one blob, or several joined), one per row."""
        return np.frombuffer(blobs, dtype=np.float16).astype(np.float32).reshape(-1, dimension)

    def scannable(self, blobs: bytes, dimension: int) -> Scannable:
        vectors = self.values(blobs, dimension)
        codes, facts = quantize(vectors)
        return Scannable(codes, facts, vectors.astype(np.float16))


class Int8:
    name = "int8"
    # The index rescores from the codes: they are the stored vectors.
    rescores_from_rows = False

    def blob(self, vector: np.ndarray) -> bytes:
        values = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        codes, _ = int8_codes(values)
        length = float(np.linalg.norm(codes.astype(np.float64)))
        # The vector's length to float16's precision, so that a vector that comes
        # back a rounding away (a store that normalises again, as Chroma does)
        # is stored with the same bytes: a unit vector's length is exactly 1.
        kept_length = float(np.float16(np.linalg.norm(values.astype(np.float64))))
        scale = np.float32(kept_length / length if length else 0.0)
        # Rounded down, never up: a unit vector's score against itself stays <= 1.
        if float(scale) * length > kept_length:
            scale = np.nextafter(scale, np.float32(0))
        return np.array([scale], dtype="<f4").tobytes() + codes.tobytes()

    def values(self, blobs: bytes, dimension: int) -> np.ndarray:
        codes, scales = self._split(blobs, dimension)
        return codes.astype(np.float32) * scales[:, None]

    def scannable(self, blobs: bytes, dimension: int) -> Scannable:
        codes, scales = self._split(blobs, dimension)
        return Scannable(codes, describe(codes, scales, None), None)

    @staticmethod
    def _split(blobs: bytes, dimension: int) -> tuple[np.ndarray, np.ndarray]:
        layout = np.dtype([("scale", "<f4"), ("codes", "i1", (dimension,))])
        records = np.frombuffer(blobs, dtype=layout)
        return records["codes"], records["scale"].astype(np.float32)


Precision = Float16 | Int8
PRECISIONS: dict[str, Precision] = {p.name: p for p in (Float16(), Int8())}
FLOAT16 = PRECISIONS["float16"]


@dataclass(frozen=True)
class Request:
    """The precision asked for, and where: a store URL's ``?vectors=`` or the environment."""

    name: str
    origin: str
    field: str


def requested(url: str, settings: Settings) -> Request | None:
    """What ``url`` or MEMVAULT_SQLITE_VECTORS asks for (the URL wins); None if neither.

    A SQLite URL takes no other parameter: a misspelt one would change nothing.
    """
    query = url.split("?", 1)[1] if "?" in url else ""
    asked: Request | None = None
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key != "vectors":
            raise InvalidInput(
                f"unknown SQLite store URL parameter {key!r}; known: vectors "
                f"({' or '.join(PRECISIONS)})",
                field="store_url",
            )
        asked = Request(value, "the store URL's vectors parameter", "store_url")
    if asked is None and settings.sqlite_vectors is not None:
        asked = Request(settings.sqlite_vectors, "MEMVAULT_SQLITE_VECTORS", "sqlite_vectors")
    if asked is not None and asked.name not in PRECISIONS:
        raise InvalidInput(
            f"{asked.origin} must be {' or '.join(PRECISIONS)}, got {asked.name!r}",
            field=asked.field,
        )
    return asked


def for_new_store(asked: Request | None) -> str:
    """The precision a store created now records."""
    return asked.name if asked is not None else DEFAULT_SQLITE_VECTORS


def held(recorded: str | None, asked: Request | None, path: object) -> Precision:
    """The precision of the store at ``path``, which records ``recorded``; refuses another asked."""
    name = recorded or EARLIER
    if name not in PRECISIONS:
        raise InvalidInput(
            f"SQLite store {path} records vector precision {name!r}, which this memvault "
            f"does not know ({' or '.join(PRECISIONS)}); upgrade memvault to open it",
            field="store_url",
        )
    if asked is not None and asked.name != name:
        raise InvalidInput(
            f"SQLite store {path} keeps its vectors as {name} (chosen when it was created), "
            f"but {asked.origin} asks for {asked.name}: drop the setting, or copy the store "
            f"into a new one with memvault migrate (target URL ending ?vectors={asked.name})",
            field=asked.field,
        )
    return PRECISIONS[name]
