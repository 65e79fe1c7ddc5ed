"""A conversation turn is embedded with its date and the turn before it; its content stays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memvault import Vault
from memvault.config import Settings
from memvault.errors import InvalidInput
from memvault.stores import open_store
from memvault.transfer.backup import export_dump
from memvault.transfer.migrate import migrate
from memvault.turns import TurnContext

from .conftest import MODEL_CACHE
from .http_helpers import API, http_client


def alike(stored: np.ndarray, expected: np.ndarray) -> bool:
    """Whether a stored vector is the embedding of the expected text: SQLite keeps
    vectors as int8 or float16, within a cosine of 1 - 7e-5 of the model's, where
    the texts these tests tell apart (with and without a header or an earlier
    turn) are below 0.99."""
    cosine = float(stored @ expected) / float(np.linalg.norm(stored) * np.linalg.norm(expected))
    return cosine > 1 - 5e-4


SESSION = [
    ("Melanie: How was the pottery class you took on Saturday?", "2023-05-08T13:56:00Z"),
    ("Caroline: I loved it, I made a blue bowl!", "2023-05-08T13:56:01Z"),
    ("Melanie: Will you go again next week?", "2023-05-08T13:56:02Z"),
]


def turns(session: str = "s1") -> list[dict]:
    return [
        {"content": text, "created_at": when, "metadata": {"session": session}}
        for text, when in SESSION
    ]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The tests' settings with one earlier turn embedded with each turn."""
    return Settings.from_env(
        {
            "MEMVAULT_DATA_DIR": str(tmp_path / "data"),
            "MEMVAULT_MODEL_CACHE_DIR": str(MODEL_CACHE),
            "MEMVAULT_CONTEXT_TURNS": "1",
        }
    )


def vector_of(vault: Vault, memory_id: str) -> np.ndarray:
    return vault.store_backend.get_many([memory_id], with_embedding=True)[0].vector()


def test_a_turn_is_embedded_after_its_date_and_the_turn_before(vault: Vault, embedder) -> None:
    stored = [r.memory for r in vault.store_many(turns())]
    assert [m.content for m in stored] == [text for text, _ in SESSION]
    expected = embedder.embed(
        [
            f"8 May 2023\n{SESSION[0][0]}",
            f"8 May 2023\n{SESSION[0][0]}\n{SESSION[1][0]}",
            f"8 May 2023\n{SESSION[1][0]}\n{SESSION[2][0]}",
        ]
    )
    for memory, vector in zip(stored, expected, strict=True):
        assert alike(vector_of(vault, memory.id), vector)
    # What search returns and the words index holds is the turn alone.
    hit = vault.search("blue bowl", k=1)[0]
    assert hit.memory.content == SESSION[1][0]


def test_turns_stored_one_by_one_are_embedded_as_a_whole_session(
    vault: Vault, tmp_path: Path, embedder, settings: Settings
) -> None:
    together = [r.memory for r in vault.store_many(turns())]
    with Vault.open(f"sqlite://{tmp_path / 'one.db'}", settings=settings, embedder=embedder) as one:
        alone = [one.store(**item).memory for item in turns()]
        for a, b in zip(alone, together, strict=True):
            assert alike(vector_of(one, a.id), vector_of(vault, b.id))


def test_other_sessions_and_memories_without_one_are_not_context(vault: Vault, embedder) -> None:
    first = vault.store_many(turns("s1"))[0].memory
    other = vault.store(
        "Caroline: Morning run done.",
        created_at="2023-05-08T14:00:00Z",
        metadata={"session": "s2", "speaker": "Caroline"},
    ).memory
    note = vault.store("A note with no session", created_at="2023-05-08T14:00:00Z").memory
    assert alike(vector_of(vault, first.id), embedder.embed([f"8 May 2023\n{SESSION[0][0]}"])[0])
    # The speaker is left out of the header when the content begins with it.
    expected = embedder.embed(["8 May 2023\nCaroline: Morning run done."])[0]
    assert alike(vector_of(vault, other.id), expected)
    assert alike(vector_of(vault, note.id), embedder.embed([note.content])[0])


def test_the_speaker_from_metadata_heads_a_turn_that_does_not_name_it(
    tmp_path: Path, embedder, settings: Settings
) -> None:
    context = TurnContext(turns=2, date=False)
    with Vault.open(
        f"sqlite://{tmp_path / 'v.db'}", settings=settings, embedder=embedder, turn_context=context
    ) as vault:
        items = [{**item, "metadata": {"session": 7, "role": "user"}} for item in turns()]
        last = vault.store_many(items)[-1].memory
        expected = embedder.embed(["user\n" + "\n".join(text for text, _ in SESSION)])[0]
        assert alike(vector_of(vault, last.id), expected)


def test_context_turns_zero_embeds_every_turn_alone(tmp_path: Path, embedder) -> None:
    settings = Settings.from_env(
        {"MEMVAULT_DATA_DIR": str(tmp_path / "data"), "MEMVAULT_CONTEXT_TURNS": "0"}
    )
    assert Settings.from_env({}).context_turns == 0  # the default
    with Vault.open(f"sqlite://{tmp_path / 'v.db'}", settings=settings, embedder=embedder) as vault:
        last = vault.store_many(turns())[-1].memory
        assert alike(vector_of(vault, last.id), embedder.embed([SESSION[2][0]])[0])
    with pytest.raises(InvalidInput, match="MEMVAULT_CONTEXT_TURNS must be at least 0"):
        Settings.from_env({"MEMVAULT_CONTEXT_TURNS": "-1"})


def test_turns_sent_over_http_one_at_a_time_are_embedded_with_context(
    tmp_path: Path, embedder, settings: Settings
) -> None:
    with Vault.open(f"sqlite://{tmp_path / 'h.db'}", settings=settings, embedder=embedder) as other:
        client = http_client(other, settings)
        first, second = turns()[:2]
        assert client.post(f"{API}/memories/batch", json={"items": [first]}).status_code == 200
        answer = client.post(f"{API}/memories", json=second)
        assert answer.status_code == 201, answer.text
        stored = answer.json()["memory"]
        assert stored["content"] == SESSION[1][0]
        expected = embedder.embed([f"8 May 2023\n{SESSION[0][0]}\n{SESSION[1][0]}"])[0]
        assert alike(vector_of(other, stored["id"]), expected)


def contextual(embedder) -> np.ndarray:
    """The vectors of SESSION's turns embedded with their date and one turn before."""
    return embedder.embed(
        [
            f"8 May 2023\n{SESSION[0][0]}",
            f"8 May 2023\n{SESSION[0][0]}\n{SESSION[1][0]}",
            f"8 May 2023\n{SESSION[1][0]}\n{SESSION[2][0]}",
        ]
    )


def alone_store(tmp_path: Path, embedder) -> tuple[str, list[str]]:
    """A store whose turns were embedded alone (the default); its URL and the turns' ids."""
    url = f"sqlite://{tmp_path / 'alone.db'}"
    plain = Settings.from_env({"MEMVAULT_DATA_DIR": str(tmp_path / "data")})
    with Vault.open(url, settings=plain, embedder=embedder) as old:
        return url, [r.memory.id for r in old.store_many(turns())]


def test_a_migration_that_reembeds_gives_turns_their_context(
    tmp_path: Path, embedder, settings: Settings
) -> None:
    source, ids = alone_store(tmp_path, embedder)
    target = f"sqlite://{tmp_path / 'new.db'}"
    # One memory a batch: a turn's earlier turns are read from the source,
    # whatever order the batches come in.
    report = migrate(
        source, target, settings=settings, embedder=embedder, reembed=True, batch_size=1
    )
    assert report.ok and report.moved == 3, report.to_dict()
    with Vault.open(target, settings=settings, embedder=embedder) as new:
        for ident, vector in zip(ids, contextual(embedder), strict=True):
            assert alike(vector_of(new, ident), vector)


def test_a_dump_reembedded_gives_turns_their_header_and_no_earlier_turns(
    tmp_path: Path, embedder, settings: Settings
) -> None:
    """A dump cannot be asked for a session's earlier turns; each turn gets its date."""
    source, ids = alone_store(tmp_path, embedder)
    dump = tmp_path / "turns.jsonl.gz"
    store = open_store(source)
    export_dump(store, dump)
    store.close()
    target = f"sqlite://{tmp_path / 'new.db'}"
    report = migrate(str(dump), target, settings=settings, embedder=embedder, reembed=True)
    assert report.ok and report.moved == 3, report.to_dict()
    expected = embedder.embed([f"8 May 2023\n{text}" for text, _ in SESSION])
    with Vault.open(target, settings=settings, embedder=embedder) as new:
        for ident, vector in zip(ids, expected, strict=True):
            assert alike(vector_of(new, ident), vector)
