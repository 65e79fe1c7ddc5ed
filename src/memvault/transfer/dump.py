"""The memvault dump: a versioned JSON Lines file, gzip-compressed unless named .json(l).

Line 1 is the header::

    {"format": "memvault-dump", "version": 1, "model": "...", "dimension": 384,
     "count": 1234, "created": "2025-...+00:00", "source": "sqlite:///...",
     "filter": {...}}

then one memory per line (``records``): every field of ``Memory.to_dict()``
(ISO 8601 timestamps) plus ``"vector"``, the embedding as base64 of
little-endian float32 (or null when the source had none, in which case an
import embeds).

Both directions stream with bounded memory. The writer puts the body in a
temporary gzip member first, so the header can carry the exact count, then
joins the header member and the body member (a valid multi-member gzip that
``zcat`` reads as one file) and renames it into place: a dump under its final
name is always complete. The reader checks the header, every line (errors name
the line number) and, at the end, that the count matches.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, StoreUnavailable
from ..files import private_dir, private_opener
from ..model import Memory, utcnow
from .records import memory_from_record, memory_to_record

FORMAT = "memvault-dump"
VERSION = 1
_BUFFER = 1 << 20
# Names written as plain JSON Lines; every other name is gzip-compressed.
PLAIN_SUFFIXES = (".json", ".jsonl")
GZIP_MAGIC = b"\x1f\x8b"
_DAMAGED = (OSError, EOFError, zlib.error)


@dataclass(frozen=True, slots=True)
class DumpHeader:
    """What a dump holds: the model its vectors belong to, where and when it came from."""

    model: str | None
    dimension: int | None
    source: str | None = None
    filter: dict[str, Any] | None = None
    count: int | None = None
    created: str = field(default_factory=lambda: utcnow().isoformat())
    format: str = FORMAT
    version: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> DumpHeader:
        """Check a parsed header line; ``where`` ("file:1") prefixes every error."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInput(f"{where}: not a memvault dump (no '{FORMAT}' header)", field="dump")
        version = data.get("version")
        if not isinstance(version, int) or not 1 <= version <= VERSION:
            raise InvalidInput(
                f"{where}: dump format version {version!r} is not supported "
                f"(this memvault reads up to {VERSION})",
                field="dump",
            )
        model, dim, count = data.get("model"), data.get("dimension"), data.get("count")
        if (model is None) != (dim is None) or (
            model is not None
            and (not isinstance(model, str) or not isinstance(dim, int) or dim <= 0)
        ):
            raise InvalidInput(
                f"{where}: model and dimension must both be set (a string and "
                f"a positive integer) or both be null",
                field="dump.model",
            )
        if count is not None and (not isinstance(count, int) or count < 0):
            raise InvalidInput(f"{where}: count must be a non-negative integer", field="dump.count")
        known = {k: data[k] for k in ("source", "filter", "created") if k in data}
        return cls(model=model, dimension=dim, count=count, version=version, **known)


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def write_dump(path: str | Path, memories: Iterable[Memory], header: DumpHeader) -> int:
    """Write ``memories`` to ``path`` as a dump; return how many were written.

    The header's ``count`` is set to the number written. Vectors must match
    the header's dimension. Nothing appears at ``path`` unless all went well.
    A name ending in .json or .jsonl gets plain JSON Lines; any other, gzip.
    """

    def lines() -> Iterator[dict[str, Any]]:
        for memory in memories:
            if (
                memory.embedding is not None
                and header.dimension is not None
                and memory.embedding.shape[0] != header.dimension
            ):
                raise InvalidInput(
                    f"memory {memory.id} has a vector of "
                    f"{memory.embedding.shape[0]} dimensions, the dump "
                    f"header says {header.dimension}",
                    field="embedding",
                )
            yield memory_to_record(memory)

    return write_lines(path, lines(), lambda count: replace(header, count=count).to_dict())


def write_lines(
    path: str | Path, records: Iterable[dict[str, Any]], header: Callable[[int], dict[str, Any]]
) -> int:
    """Write ``header(count)`` and then ``records``, a JSON line each, to ``path``; the count.

    The body goes to a temporary file first so the header can carry the exact
    count; nothing appears at ``path`` unless all went well. A name ending in
    .json or .jsonl gets plain JSON Lines; any other, gzip.
    """
    path = Path(path)
    private_dir(path.parent)
    body, final = _partial_files(path)
    _remove(body, final)  # left by a crash, perhaps with another mode
    compressed = not path.name.lower().endswith(PLAIN_SUFFIXES)
    count = 0
    try:
        # Level 1: base64 vectors hardly compress at any level, and the rest compresses
        # well enough at the fastest one. Writes are buffered into large deflate calls.
        with (
            open(body, "wb", opener=private_opener) as file,
            (
                gzip.GzipFile(fileobj=file, mode="wb", compresslevel=1)
                if compressed
                else contextlib.nullcontext(file)
            ) as raw,
            io.BufferedWriter(raw, _BUFFER) as out,
        ):
            for record in records:
                out.write(_line(record))
                count += 1
        with open(final, "wb", opener=private_opener) as out:
            first = _line(header(count))
            if compressed:
                with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=1) as head:
                    head.write(first)
            else:
                out.write(first)
            with open(body, "rb") as src:
                shutil.copyfileobj(src, out, _BUFFER)
            out.flush()
            os.fsync(out.fileno())
        os.replace(final, path)
    except OSError as exc:
        # A full disk, most often: the dump is the store this write failed on.
        raise StoreUnavailable(
            f"cannot write the dump {path}: {exc.strerror or exc}", field="file"
        ) from exc
    finally:
        _remove(body, final)
    return count


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def is_dump(path: Path) -> bool:
    """Whether a file is (meant to be) a dump: gzip, or a first line naming the format."""
    with open(path, "rb") as head:
        start = head.read(2)
        if start == GZIP_MAGIC:
            return True
        line = start + head.readline(1 << 16)
    try:
        return json.loads(line).get("format") == FORMAT
    except (ValueError, AttributeError):
        return False


def _partial_files(path: Path) -> tuple[Path, Path]:
    """Where ``write_dump`` writes the body, then the whole file, before renaming it."""
    return path.with_name(path.name + ".body.tmp"), path.with_name(path.name + ".tmp")


def discard_dump(path: Path) -> None:
    """Remove a dump and whatever a killed ``write_dump`` left of it."""
    _remove(path, *_partial_files(path))


def read_dump(path: str | Path) -> tuple[DumpHeader, Generator[Memory, None, None]]:
    """The header (read now) and a lazy iterator over the memories.

    Errors (InvalidInput) name the file and line. The iterator raises at the
    end if the file holds fewer or more memories than the header says.
    """
    name = str(path)
    stream, first = open_lines(path)
    try:
        header = DumpHeader.from_dict(first, f"{name}:1")
    except BaseException:
        stream.close()
        raise
    return header, _memories(stream, header, name)


def open_lines(path: str | Path) -> tuple[Any, Any]:
    """A file ``write_lines`` wrote, opened (gzip or plain) with its first line parsed.

    The caller closes the stream, which is left positioned on the second line.
    """
    name = str(path)
    try:
        with open(path, "rb") as probe:
            compressed = probe.read(2) == GZIP_MAGIC
        stream = gzip.open(path, "rb") if compressed else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot open dump: {exc}", field="dump") from None
    try:
        return stream, parse_line(stream.readline(), f"{name}:1")
    except _DAMAGED as exc:
        stream.close()
        raise InvalidInput(f"{name}: cannot read dump: {exc}", field="dump") from None
    except BaseException:
        stream.close()
        raise


def _memories(stream: Any, header: DumpHeader, name: str) -> Generator[Memory, None, None]:
    count = 0
    with stream:
        line_no = 1
        try:
            for line_no, raw in enumerate(stream, start=2):
                if not raw.strip():
                    continue
                where = f"{name}:{line_no}"
                record = parse_line(raw, where)
                try:
                    memory = memory_from_record(record, header.dimension)
                except InvalidInput as exc:
                    raise InvalidInput(f"{where}: {exc.message}", field=exc.field) from None
                count += 1
                yield memory
        except _DAMAGED as exc:
            raise InvalidInput(
                f"{name}:{line_no + 1}: dump is damaged or truncated: {exc}", field="dump"
            ) from None
    if header.count is not None and count != header.count:
        raise InvalidInput(
            f"{name}: header says {header.count} memories, the file holds "
            f"{count}: the dump is incomplete",
            field="dump.count",
        )


def parse_line(raw: bytes, where: str) -> Any:
    if not raw:
        raise InvalidInput(f"{where}: empty file, expected a dump header", field="dump")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{where}: not valid JSON: {exc}", field="dump") from None


def check_dump(path: str | Path) -> DumpHeader:
    """Read a whole dump, checking every line, without keeping it: before a restore."""
    header, memories = read_dump(path)
    for _ in memories:
        pass
    return header
