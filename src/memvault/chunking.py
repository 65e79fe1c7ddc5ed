"""Split long content into overlapping chunks on paragraph and sentence boundaries.

The model reads at most ``max_tokens`` word pieces and silently drops the
rest, so a long memory is embedded as several chunks: the memory itself holds
the first, each further one is stored as a chunk record pointing at it.
"""

from __future__ import annotations

import re
from typing import Any

from .model import Memory

# English averages about four characters per word piece; staying under the
# window by this estimate keeps almost every chunk whole inside the model.
CHARS_PER_TOKEN = 4
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def window_chars(max_tokens: int) -> int:
    return max(200, max_tokens * CHARS_PER_TOKEN - 64)


def chunk_record(parent: Memory, index: int, text: str, **changes: Any) -> Memory:
    """The record of ``parent``'s chunk ``index`` (> 0): its text, the parent's fields."""
    # An empty content_hash is recomputed from the chunk's own text.
    return parent.with_changes(
        id=f"{parent.id}#{index}",
        content=text,
        content_hash="",
        parent_id=parent.id,
        chunk_index=index,
        **changes,
    )


def split_into_chunks(text: str, max_chars: int, overlap_chars: int | None = None) -> list[str]:
    """Chunks of at most ``max_chars`` that cover ``text``; one chunk if it fits.

    Paragraphs are kept together when they fit, then sentences; a run with no
    boundary at all is cut hard. Consecutive chunks share about
    ``overlap_chars`` of text so a fact on a boundary is whole in one of them.
    """
    text = text.strip()
    if len(text) <= max_chars:
        return [text]
    overlap = max_chars // 6 if overlap_chars is None else overlap_chars
    pieces = _pieces(text, max_chars)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 1 + len(piece) > max_chars:
            chunks.append(current)
            current = _tail(current, overlap)
        current = f"{current} {piece}".strip() if current else piece
        while len(current) > max_chars:
            chunks.append(current[:max_chars])
            current = current[max_chars - overlap :]
    if current and (not chunks or current != _tail(chunks[-1], overlap)):
        chunks.append(current)
    return chunks


def _pieces(text: str, max_chars: int) -> list[str]:
    """Paragraphs, or the sentences of paragraphs too long to keep whole."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= max_chars:
            out.append(paragraph)
        else:
            out.extend(s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip())
    return out


def _tail(text: str, size: int) -> str:
    """The last ``size`` characters of ``text``, starting at a word boundary."""
    if size <= 0 or len(text) <= size:
        return "" if size <= 0 else text
    tail = text[-size:]
    space = tail.find(" ")
    return tail[space + 1 :] if 0 <= space < len(tail) - 1 else tail
