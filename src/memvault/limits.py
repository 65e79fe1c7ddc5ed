"""The bounds of every value a caller sends, and the checks of single values.

Every interface (library, CLI, HTTP, MCP) and every import reaches these
through ``inputs``, ``Filter.build`` and the Vault, so one bad value gets one
error, naming the field, wherever it came from. The README lists the limits
(under "The library").

Times: memvault keeps times from 1970-01-01 up to, not including,
9999-01-01 (UTC). Every store holds more (SQLite and Chroma keep integer
microseconds, good for ±292,000 years; PostgreSQL's timestamptz runs from
4713 BC), so the bounds come from Python and the search path: a ``datetime``
ends with the year 9999, and ranking steps forward from times (a time phrase
such as "this year" from a given ``now``, a search's context window), so the
last year is kept as room for those steps. Before 1970, epoch seconds are
negative, which some platforms cannot convert and peer stores read as "no
time"; nothing memvault is told about predates it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidInput

MAX_NAMESPACE_CHARS = 128
MAX_TAGS = 100
MAX_TAG_CHARS = 128
MAX_MEMORY_TYPE_CHARS = 64
MAX_ID_CHARS = 128
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_KEYS = 1000
MAX_METADATA_DEPTH = 16
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)

# Names (namespace, tags, memory_type, metadata keys, ids) hold no control
# character at all: C0, DEL and C1 (a terminal reads 0x9b as an escape).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Text (content, metadata string values) may hold tab, newline and carriage return.
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NAMESPACE_RULE = (
    f"must be 1 to {MAX_NAMESPACE_CHARS} characters, without '/', '\\', '..', "
    "control characters or surrounding whitespace"
)


def is_utf8(text: str) -> bool:
    """False for text holding lone surrogates (what undecodable bytes become): no store keeps it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_control(text: str, *, in_text: bool = False) -> bool:
    """True if ``text`` holds a control character (in text: other than tab, newline, CR)."""
    return (_CONTROL_IN_TEXT if in_text else _CONTROL).search(text) is not None


def is_scalar(value: Any) -> bool:
    """A boolean, a finite float or an integer every store can compare (64 bits)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(1 << 63) <= value < 1 << 63
    return isinstance(value, float) and math.isfinite(value)


def check_name(value: Any, field: str, max_chars: int) -> str:
    """A short name (id, tag, type, key): a UTF-8 string of at most ``max_chars``, no controls."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, got {type(value).__name__}", field=field)
    if len(value) > max_chars:
        raise InvalidInput(
            f"{field} is {len(value)} characters, over the limit of {max_chars}", field=field
        )
    if has_control(value) or not is_utf8(value):
        raise InvalidInput(f"{field} must be UTF-8 text without control characters", field=field)
    return value


def check_namespace(value: Any, field_name: str = "namespace") -> str:
    """A namespace: it names data and never a path, so it cannot hold what a path would need."""
    if (
        not isinstance(value, str)
        or not value
        or value != value.strip()
        or len(value) > MAX_NAMESPACE_CHARS
        or has_control(value)
        or not is_utf8(value)
        or "/" in value
        or "\\" in value
        or ".." in value
    ):
        raise InvalidInput(f"{field_name} {_NAMESPACE_RULE}", field=field_name)
    return value


def normalize_tags(tags: Any, field_name: str = "tags") -> tuple[str, ...]:
    """Tags as a sorted tuple of unique, stripped, non-empty strings, at most MAX_TAGS."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, list | tuple | set | frozenset):
        raise InvalidInput(f"{field_name} must be a list of strings", field=field_name)
    out: set[str] = set()
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidInput(f"{field_name} must contain only strings", field=field_name)
        tag = tag.strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS or has_control(tag) or not is_utf8(tag):
            raise InvalidInput(
                f"{field_name} entries must be UTF-8, at most {MAX_TAG_CHARS} "
                "characters, without control characters",
                field=field_name,
            )
        out.add(tag)
        if len(out) > MAX_TAGS:
            raise InvalidInput(f"{field_name} holds more than {MAX_TAGS} tags", field=field_name)
    return tuple(sorted(out))


def check_memory_type(value: Any, field_name: str = "memory_type") -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_MEMORY_TYPE_CHARS
        or has_control(value)
        or not is_utf8(value)
    ):
        raise InvalidInput(
            f"{field_name} must be a non-empty string of at most "
            f"{MAX_MEMORY_TYPE_CHARS} characters, without control characters",
            field=field_name,
        )
    return value.strip()


def check_importance(value: Any, field_name: str = "importance") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field_name} must be a number from 0 to 1", field=field_name)
    if not (0.0 <= float(value) <= 1.0):
        raise InvalidInput(f"{field_name} must be between 0 and 1, got {value}", field=field_name)
    return float(value)


def check_metadata(value: Any, field_name: str = "metadata") -> dict[str, Any]:
    """A JSON object with string keys, within the size, key and depth limits, that survives a
    JSON round trip; keys hold no control characters, string values none but tab and newlines."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{field_name} must be a JSON object", field=field_name)
    _walk(value, field_name, 1, [0])
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{field_name} is not valid JSON: {exc}", field=field_name) from None
    if not is_utf8(text):
        raise InvalidInput(f"{field_name} is not valid UTF-8 (lone surrogate)", field=field_name)
    size = len(text.encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidInput(
            f"{field_name} is {size} bytes as JSON, over the limit of {MAX_METADATA_BYTES}",
            field=field_name,
        )
    return json.loads(text)


def _walk(value: Any, field: str, depth: int, keys: list[int]) -> None:
    """Check nesting, key count and control characters before anything serializes ``value``
    (a deep enough value would exhaust the interpreter's recursion first)."""
    if isinstance(value, str):
        if has_control(value, in_text=True):
            raise InvalidInput(
                f"{field} values must not contain control characters other than tab and newlines",
                field=field,
            )
        return
    if isinstance(value, int | float) and not is_scalar(value):
        raise InvalidInput(f"{field} numbers must be finite, integers within 64 bits", field=field)
    if not isinstance(value, dict | list | tuple):
        return
    if depth > MAX_METADATA_DEPTH:
        raise InvalidInput(
            f"{field} is nested more than {MAX_METADATA_DEPTH} levels deep", field=field
        )
    if isinstance(value, dict):
        keys[0] += len(value)
        if keys[0] > MAX_METADATA_KEYS:
            raise InvalidInput(f"{field} holds more than {MAX_METADATA_KEYS} keys", field=field)
        for key in value:
            if isinstance(key, str) and (has_control(key) or not is_utf8(key)):
                raise InvalidInput(f"{field} keys must not contain control characters", field=field)
        items: Iterable[Any] = value.values()
    else:
        items = value
    for item in items:
        _walk(item, field, depth + 1, keys)


def to_utc(value: datetime | str | float | int, field_name: str = "created_at") -> datetime:
    """Coerce an ISO string, epoch seconds or a datetime to an aware UTC datetime.

    Any time Python can hold is accepted (stored data is read with this);
    ``check_time`` also holds a caller's time to the bounds memvault keeps.
    """
    if isinstance(value, bool):
        raise InvalidInput(f"{field_name} must be a timestamp, not a boolean", field=field_name)
    try:
        if isinstance(value, int | float):
            if not math.isfinite(value):
                raise InvalidInput(f"{field_name} must be a finite number", field=field_name)
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            given, text = value, value.strip()
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise InvalidInput(
                    f"{field_name} is not an ISO 8601 timestamp: {given[:64]!r}", field=field_name
                ) from None
        if not isinstance(value, datetime):
            raise InvalidInput(f"{field_name} must be a timestamp", field=field_name)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (OverflowError, ValueError, OSError):
        # Epoch seconds past what the platform converts, or a time zone offset
        # carrying a time past year 1 or 9999.
        raise InvalidInput(
            f"{field_name} is out of range: memvault keeps times from "
            f"{EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}",
            field=field_name,
        ) from None


def check_time(value: Any, field_name: str) -> datetime:
    """A caller's time as aware UTC, within [EARLIEST, LATEST)."""
    moment = to_utc(value, field_name)
    if not EARLIEST <= moment < LATEST:
        raise InvalidInput(
            f"{field_name} {moment.isoformat()} is out of range: memvault keeps "
            f"times from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}",
            field=field_name,
        )
    return moment


def clamp_time(moment: datetime) -> datetime:
    """A computed bound (a phrase's range, an age's cut-off) held within [EARLIEST, LATEST]."""
    return min(max(moment, EARLIEST), LATEST)
