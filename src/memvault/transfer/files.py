"""Files people keep memories in, read as migration sources: import them like any store.

- **A folder of notes** (``.md``, ``.markdown``, ``.txt``, searched recursively;
  or one such file): one memory per file, or with ``split="headings"`` one per
  Markdown section (a heading line and what follows it, up to the next
  heading of any level; text before the first heading is a section too).
  Metadata ``{"path": <path relative to the folder>}``, plus ``"section": <heading
  text>`` when split; created at the file's modification time; type ``note``.
- **JSON Lines of memories**: one object per line with the fields ``memvault
  store`` takes (``content``, ``tags``, ``memory_type``, ``metadata``,
  ``importance``, ``created_at``, ``expires_at``, ``id``) and optionally
  ``namespace``.
- **The official MCP memory server's ``memory.json``**
  (``@modelcontextprotocol/server-memory``): JSON Lines of entities
  ``{"type": "entity", "name", "entityType", "observations": [...]}`` and
  relations ``{"type": "relation", "from", "to", "relationType"}``. One memory
  per observation, ``"<name>: <observation>"``, tagged with the entity type,
  metadata ``{"entity", "entity_type"}``, type ``observation``: a search then
  finds the one fact asked about rather than a whole entity; and one per
  relation, ``"<from> <relationType> <to>"``, type ``relation``, metadata
  ``{"from", "to", "relation_type"}``.

Memories go into the namespace given when opening (a JSON Lines line may name
its own). None carries a vector, so a migration embeds them with the local
model; a long one comes with its chunk records, as ``Vault.store`` makes them.
Items are read in a stable order and the cursor is how many were read, so an
interrupted import continues after its last batch; ids are derived from the
source and the content, so a rerun writes the same ones. Items that cannot
be read (a note that is not UTF-8, a line that is not a memory) are listed in
``rejected`` and the rest still move.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..chunking import chunk_record, split_into_chunks, window_chars
from ..errors import InvalidInput
from ..inputs import build_memory
from ..limits import check_namespace
from ..model import EmbeddingSpec, Filter, Memory, content_hash

NOTE_SUFFIXES = (".md", ".markdown", ".txt")
SPLITS = ("file", "headings")
# The window of the default model (all-MiniLM-L6-v2: 256 word pieces), for
# chunks made here: the target's model is not known to a source.
CHUNK_CHARS = window_chars(256)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class _Item:
    """One memory to be: where it came from (for ``rejected``) and its fields."""

    where: str
    fields: dict[str, Any] | None  # None: unreadable, with the reason in ``problem``
    problem: str = ""


class FileSource:
    """Memories read from files; what an item is comes from ``items``."""

    kind = "files"

    def __init__(self, path: Path, namespace: str, max_bytes: int) -> None:
        self.path, self.namespace, self.max_bytes = path, namespace, max_bytes
        self.url = str(path)
        self.rejected: dict[str, str] = {}

    def items(self) -> Iterator[_Item]:
        raise NotImplementedError

    def identity(self) -> str:
        return f"{self.kind}:{self.path.resolve()}"

    def embedding_spec(self) -> EmbeddingSpec | None:
        return None

    def health(self) -> dict[str, Any]:
        return {"backend": self.kind, "path": str(self.path)}

    def close(self) -> None:
        pass

    def count(self, flt: Filter) -> int:
        top = flt.with_changes(include_chunks=False)
        return sum(len(batch) for batch, _ in self.scan(top, batch_size=1000))

    def scan(
        self,
        flt: Filter,
        *,
        batch_size: int,
        cursor: str | None = None,
        with_embedding: bool = True,
    ) -> Iterator[tuple[list[Memory], str]]:
        skip = int(cursor) if cursor and cursor.isdigit() else 0
        batch: list[Memory] = []
        read = skip
        for position, item in enumerate(self.items(), start=1):
            if position <= skip:
                continue
            read = position
            batch += [m for m in self._memories(item) if flt.matches(m)]
            if position - skip >= batch_size:
                yield batch, str(position)
                batch, skip = [], position
        if batch or read > skip:
            yield batch, str(read)

    def _memories(self, item: _Item) -> list[Memory]:
        """The memory an item makes, followed by its chunk records; none if unreadable."""
        if item.fields is None:
            self.rejected[item.where] = item.problem
            return []
        fields = dict(item.fields)
        try:
            namespace = check_namespace(fields.pop("namespace", None) or self.namespace)
            memory = build_memory(fields, namespace, self.max_bytes)
        except InvalidInput as exc:
            self.rejected[item.where] = exc.message
            return []
        if "id" not in fields:
            name = f"{self.identity()}|{namespace}|{content_hash(memory.content)}"
            memory = memory.with_changes(id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)))
        chunks = split_into_chunks(memory.content, CHUNK_CHARS)
        return [memory] + [chunk_record(memory, j, text) for j, text in enumerate(chunks) if j > 0]


class NotesSource(FileSource):
    """A folder of Markdown or text notes (or one note file)."""

    kind = "notes"

    def __init__(self, path: Path, namespace: str, max_bytes: int, split: str = "file") -> None:
        if split not in SPLITS:
            raise InvalidInput(
                f"split must be one of {', '.join(SPLITS)}, got {split!r}", field="split"
            )
        super().__init__(path, namespace, max_bytes)
        self.split = split

    def identity(self) -> str:
        return f"{super().identity()}?split={self.split}"

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(
            p
            for p in self.path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in NOTE_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(self.path).parts)
        )

    def items(self) -> Iterator[_Item]:
        base = self.path.parent if self.path.is_file() else self.path
        for file in self.files():
            relative = file.relative_to(base).as_posix()
            try:
                text = file.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError) as exc:
                yield _Item(relative, None, f"cannot read as UTF-8 text: {exc}")
                continue
            when = datetime.fromtimestamp(file.stat().st_mtime, UTC)
            parts = sections(text) if self.split == "headings" else [(None, text)]
            for heading, body in parts:
                if not body.partition("\n")[2 if heading else 0].strip():
                    continue  # an empty file, or a heading with nothing under it
                metadata = {"path": relative} | ({"section": heading} if heading else {})
                yield _Item(
                    f"{relative}#{heading}" if heading else relative,
                    {"content": body, "metadata": metadata, "created_at": when},
                )


def sections(text: str) -> list[tuple[str | None, str]]:
    """(heading, text) of each Markdown section, the heading line included in its text;
    lines inside fenced code blocks are never headings."""
    out: list[tuple[str | None, list[str]]] = [(None, [])]
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading:
            out.append((heading.group(2), []))
        out[-1][1].append(line)
    return [(heading, "\n".join(lines).strip()) for heading, lines in out]


class JsonLinesSource(FileSource):
    """One memory per line: ``{"content", "tags", ...}``."""

    kind = "jsonl"

    def items(self) -> Iterator[_Item]:
        for number, value, problem in _json_lines(self.path):
            where = f"line {number}"
            if isinstance(value, dict):
                yield _Item(where, value)
            else:
                yield _Item(where, None, problem or "not a JSON object")


class MemoryGraphSource(FileSource):
    """The knowledge graph of the official MCP memory server (``memory.json``)."""

    kind = "mcp-memory-graph"

    def items(self) -> Iterator[_Item]:
        for number, value, problem in _json_lines(self.path):
            where = f"line {number}"
            kind = value.get("type") if isinstance(value, dict) else None
            if kind == "entity":
                name, entity_type = value.get("name"), value.get("entityType")
                observations = value.get("observations") or []
                if not isinstance(name, str) or not isinstance(observations, list):
                    yield _Item(where, None, "an entity needs a name and a list of observations")
                    continue
                for index, observation in enumerate(observations):
                    yield _Item(
                        f"{where} observation {index}",
                        {
                            "content": f"{name}: {observation}",
                            "tags": [entity_type] if isinstance(entity_type, str) else [],
                            "memory_type": "observation",
                            "metadata": {"entity": name, "entity_type": entity_type},
                        },
                    )
            elif kind == "relation":
                ends = [value.get(key) for key in ("from", "relationType", "to")]
                if not all(isinstance(end, str) and end for end in ends):
                    yield _Item(where, None, "a relation needs from, relationType and to")
                    continue
                yield _Item(
                    where,
                    {
                        "content": " ".join(ends),
                        "memory_type": "relation",
                        "metadata": {"from": ends[0], "to": ends[2], "relation_type": ends[1]},
                    },
                )
            else:
                yield _Item(where, None, problem or 'not an entity or relation ("type")')


def _json_lines(path: Path) -> Iterator[tuple[int, Any, str]]:
    """(line number, parsed value, "" or why it is not JSON) of each non-blank line."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line), ""
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON: {exc}"


def open_files(path: Path, namespace: str, max_bytes: int, split: str = "file") -> FileSource:
    """The reader for a folder or file of notes, memories or a memory graph, by its look."""
    if path.is_dir() or path.suffix.lower() in NOTE_SUFFIXES:
        return NotesSource(path, namespace, max_bytes, split)
    first = _first_json_line(path)
    if isinstance(first, dict) and first.get("type") in ("entity", "relation"):
        return MemoryGraphSource(path, namespace, max_bytes)
    if isinstance(first, dict) and "content" in first:
        return JsonLinesSource(path, namespace, max_bytes)
    raise InvalidInput(
        f"{path} is neither a memvault dump, JSON Lines of memories "
        '({"content": ...} per line), an MCP memory graph (memory.json) nor a '
        f"notes file ({', '.join(NOTE_SUFFIXES)})",
        field="source_url",
    )


def _first_json_line(path: Path) -> Any:
    """The first non-blank line of a text file, parsed; None if it is not JSON."""
    try:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    return json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError, OSError):
        return None
    return None
