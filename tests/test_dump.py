"""The dump format: round trips of every field, streaming, and errors that name the line."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from memvault.errors import InvalidInput
from memvault.model import Memory
from memvault.transfer.dump import (
    FORMAT,
    DumpHeader,
    check_dump,
    read_dump,
    write_dump,
)
from memvault.transfer.records import memory_to_record

DIM = 8


def vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def sample_memories() -> list[Memory]:
    t0 = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    parent = Memory(
        content="Ünïcode ✓ emoji 🧠 and\nnewlines\ttabs",
        namespace="alice",
        tags=("prefs", "日本語"),
        memory_type="decision",
        metadata={"nested": {"list": [1, 2.5, None, "x"]}, "flag": True},
        importance=0.9,
        created_at=t0,
        updated_at=t0 + timedelta(days=1),
        last_accessed_at=t0 + timedelta(days=2),
        expires_at=t0 + timedelta(days=3650),
        embedding=vec(1),
    )
    chunk = Memory(
        content="a chunk of it",
        namespace="alice",
        tags=parent.tags,
        created_at=t0,
        parent_id=parent.id,
        chunk_index=0,
        embedding=vec(2),
    )
    plain = Memory(content="x" * 100_000, embedding=vec(3))
    return [parent, chunk, plain]


def assert_same(a: Memory, b: Memory) -> None:
    assert a == b  # every field but the vector (compare=False)
    assert a.to_dict() == b.to_dict()
    assert np.array_equal(a.embedding, b.embedding)
    assert b.embedding.dtype == np.float32


def test_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "out.jsonl.gz"
    memories = sample_memories()
    header = DumpHeader(
        model="m", dimension=DIM, source="sqlite:///x.db", filter={"namespace": "alice"}
    )
    assert write_dump(path, iter(memories), header) == 3
    got_header, got = read_dump(path)
    assert got_header.count == 3
    assert (got_header.model, got_header.dimension) == ("m", DIM)
    assert got_header.source == "sqlite:///x.db"
    assert got_header.filter == {"namespace": "alice"}
    assert datetime.fromisoformat(got_header.created).tzinfo is not None
    back = list(got)
    assert len(back) == 3
    for a, b in zip(memories, back, strict=True):
        assert_same(a, b)


def test_file_is_plain_gzip_jsonl_with_little_endian_vectors(tmp_path):
    path = tmp_path / "out.jsonl.gz"
    memories = sample_memories()
    write_dump(path, memories, DumpHeader(model="m", dimension=DIM))
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    assert len(lines) == 4
    head = json.loads(lines[0])
    assert head["format"] == FORMAT and head["version"] == 1 and head["count"] == 3
    record = json.loads(lines[1])
    assert record["created_at"] == "2024-03-01T12:30:15.123456+00:00"
    assert record["tags"] == ["prefs", "日本語"]
    raw = base64.b64decode(record["vector"])
    assert np.array_equal(np.frombuffer(raw, dtype="<f4"), memories[0].embedding)


def test_empty_dump_and_memories_without_vectors(tmp_path):
    path = tmp_path / "empty.jsonl.gz"
    assert write_dump(path, [], DumpHeader(model=None, dimension=None)) == 0
    header, memories = read_dump(path)
    assert header.count == 0 and list(memories) == []

    bare = Memory(content="no vector here")
    write_dump(path, [bare], DumpHeader(model=None, dimension=None))
    _, memories = read_dump(path)
    (back,) = list(memories)
    assert back == bare and back.embedding is None


def test_streams_without_materializing(tmp_path):
    """The writer takes a generator; the reader yields lazily (first item before the rest)."""
    path = tmp_path / "big.jsonl.gz"
    n = 5000
    gen = (Memory(content=f"memory {i}", embedding=vec(i)) for i in range(n))
    assert write_dump(path, gen, DumpHeader(model="m", dimension=DIM)) == n
    header, memories = read_dump(path)
    assert header.count == n
    first = next(memories)
    assert first.content == "memory 0"
    assert sum(1 for _ in memories) == n - 1


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "out.jsonl.gz"

    def broken():
        yield sample_memories()[0]
        raise RuntimeError("source died")

    with pytest.raises(RuntimeError):
        write_dump(path, broken(), DumpHeader(model="m", dimension=DIM))
    assert list(tmp_path.iterdir()) == []


def test_wrong_dimension_refused_on_write(tmp_path):
    path = tmp_path / "out.jsonl.gz"
    with pytest.raises(InvalidInput) as err:
        write_dump(path, sample_memories(), DumpHeader(model="m", dimension=DIM + 1))
    assert err.value.field == "embedding"
    assert not path.exists()


def write_raw(path, lines: list[str | dict]) -> None:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    path.write_bytes(gzip.compress(text.encode("utf-8")))


def header_line(**over) -> dict:
    return {"format": FORMAT, "version": 1, "model": "m", "dimension": DIM, **over}


def good_record(**over) -> dict:
    return {**memory_to_record(Memory(content="fine", embedding=vec(0))), **over}


@pytest.mark.parametrize(
    ("lines", "needle", "field"),
    [
        ([{"format": "other"}], ":1: not a memvault dump", "dump"),
        (["not json"], ":1: not valid JSON", "dump"),
        ([header_line(version=99)], "version 99 is not supported", "dump"),
        ([header_line(dimension=None)], "model and dimension", "dump.model"),
        ([header_line(count=-1)], "count must be", "dump.count"),
        ([header_line(), good_record(), "{broken"], ":3: not valid JSON", "dump"),
        ([header_line(), good_record(content="")], ":2: missing field 'content'", "content"),
        ([header_line(), good_record(tags=[1])], ":2: tags must be a list of strings", "tags"),
        (
            [header_line(), good_record(created_at="yesterday")],
            ":2: created_at is not",
            "created_at",
        ),
        (
            [header_line(), good_record(vector="AAAAAA==")],
            ":2: vector is not valid: vector has 1",
            "vector",
        ),
        ([header_line(), good_record(vector="@@")], ":2: vector is not valid", "vector"),
        ([header_line(), good_record(importance=3)], ":2: importance must be", "importance"),
        ([header_line(), good_record(parent_id="p")], ":2: parent_id", "chunk_index"),
        ([header_line(), "[1, 2]"], ":2: line is not a JSON object", "dump"),
        (
            [header_line(count=2), good_record()],
            "header says 2 memories, the file holds 1",
            "dump.count",
        ),
    ],
)
def test_bad_files_name_the_line(tmp_path, lines, needle, field):
    path = tmp_path / "bad.jsonl.gz"
    write_raw(path, lines)
    with pytest.raises(InvalidInput) as err:
        check_dump(path)
    assert needle in err.value.message
    assert str(path) in err.value.message
    assert err.value.field == field


def test_truncated_and_non_gzip_files(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    write_dump(
        path,
        (Memory(content=f"m{i}", embedding=vec(i)) for i in range(2000)),
        DumpHeader(model="m", dimension=DIM),
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InvalidInput) as err:
        check_dump(path)
    assert "damaged or truncated" in err.value.message

    # Not gzip is fine (a dump named .jsonl is written plain); not JSON is not.
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps(header_line()) + "\n" + json.dumps(good_record()) + "\n")
    header, memories = read_dump(plain)
    assert header.model == "m" and [m.content for m in memories] == ["fine"]
    binary = tmp_path / "binary.jsonl.gz"
    binary.write_bytes(b"\x00\x01 not a dump")
    with pytest.raises(InvalidInput) as err:
        read_dump(binary)
    assert err.value.field == "dump"

    with pytest.raises(InvalidInput):
        read_dump(tmp_path / "missing.jsonl.gz")
