"""What a conversation turn is embedded with: its date, its speaker and the turns before it.

A turn alone is often too short to find ("Yes, last Tuesday!"); embedded with
the turn it answers and the day it was said, its vector carries what it is
about. Only the vector changes: the memory's content, its words in the full-text
index and what search returns stay the turn itself.

A memory is a turn when its metadata names a ``session`` (any string or number):
the turns before it are the memories of the same namespace and session stored
before it, in the order they were given (``store_many`` of a whole session), or
read from the store for the first turns of a call (a session stored one turn at
a time, ``store``). Memories without a session are embedded alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .config import Settings
from .model import Memory

SESSION_KEY = "session"
SPEAKER_KEYS = ("speaker", "role")


@dataclass(frozen=True)
class TurnContext:
    """How much context a turn is embedded with; ``turns=0`` embeds every memory alone."""

    turns: int = 1
    date: bool = True
    # Of each earlier turn, its end (nearest the turn): a long answer before a
    # short reply would otherwise fill the model's window and push the reply out.
    turn_chars: int = 300

    @property
    def enabled(self) -> bool:
        return self.turns > 0 or self.date

    @classmethod
    def from_settings(cls, settings: Settings) -> TurnContext:
        """``MEMVAULT_CONTEXT_TURNS``: 0 (the default) embeds every memory alone, no date either."""
        turns = settings.context_turns
        return cls(turns=turns, date=turns > 0)


# (namespace, session, the first turn of it in this call, how many) -> the
# contents of the turns stored before that one, oldest first.
EarlierTurns = Callable[[str, object, Memory, int], list[str]]


def session_of(memory: Memory) -> object | None:
    value = memory.metadata.get(SESSION_KEY)
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def header(memory: Memory, context: TurnContext) -> str:
    """The turn's date and, unless its content begins with it, its speaker."""
    parts = []
    if context.date:
        when = memory.created_at
        parts.append(f"{when.day} {when:%B %Y}")
    speaker = next(
        (memory.metadata[k] for k in SPEAKER_KEYS if isinstance(memory.metadata.get(k), str)),
        None,
    )
    if speaker and not memory.content.startswith(f"{speaker}:"):
        parts.append(str(speaker))
    return ", ".join(parts)


def prefixes(memories: Sequence[Memory], context: TurnContext, earlier: EarlierTurns) -> list[str]:
    """For each memory, the text embedded before its content ("" for one that is not a turn)."""
    if not context.enabled:
        return [""] * len(memories)
    seen: dict[tuple[str, object], list[str]] = defaultdict(list)
    out = []
    for memory in memories:
        session = session_of(memory)
        if session is None:
            out.append("")
            continue
        key = (memory.namespace, session)
        before = seen.get(key)
        if before is None:
            before = earlier(memory.namespace, session, memory, context.turns)
            seen[key] = before
        recent = before[-context.turns :] if context.turns else []
        lines = [header(memory, context)]
        lines += [_tail(text, context.turn_chars) for text in recent]
        out.append("\n".join(line for line in lines if line) + "\n")
        before.append(memory.content)
    return out


def _tail(text: str, size: int) -> str:
    """The last ``size`` characters of ``text``, from a word boundary."""
    text = text.strip()
    if len(text) <= size:
        return text
    tail = text[-size:]
    space = tail.find(" ")
    return "…" + (tail[space + 1 :] if 0 <= space < len(tail) - 1 else tail)
