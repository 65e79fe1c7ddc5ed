"""Summarize: groups, provenance, reruns, undo, archived originals; the chat endpoint."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from memvault.maintenance.summarizers import ChatSummarizer, SummarizerUnavailable
from memvault.model import Filter
from memvault.vault import Vault

from .upkeep import snapshot

GARDEN = [
    "Planted tomatoes in the back garden bed.",
    "Watered the tomato plants in the garden this morning.",
    "The garden tomatoes need staking soon.",
    "Aphids showed up on the garden tomato plants.",
]
CAR = [
    "Took the car to the garage for an oil change.",
    "The garage said the car's oil change is due again in 5000 miles.",
    "The car's oil filter was replaced at the garage with the oil change.",
]
SINGLES = [
    "Alice's birthday is on June 12.",
    "The quarterly report is due next Friday.",
    "Bought a new laptop charger.",
]
OLD = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def topical(store, embedder, settings):
    vault = Vault(store, embedder, settings)
    texts = GARDEN + CAR + SINGLES
    results = vault.store_many(
        [
            {
                "content": t,
                "created_at": OLD + timedelta(days=i),
                "importance": 0.2 + 0.05 * i,
                "tags": ["garden" if t in GARDEN else "car" if t in CAR else "misc", "log"],
            }
            for i, t in enumerate(texts)
        ]
    )
    vault.store("A fresh note about the garden tomatoes.")  # too new to summarize
    return vault, {t: r.memory for t, r in zip(texts, results, strict=True)}


def test_summaries_keep_provenance_and_leave_originals(topical):
    vault, stored = topical
    before = vault.count()
    items, op = vault.upkeep.summarize(older_than="30d", similarity=0.5)
    assert op.status == "applied" and len(op.result["summaries"]) == 2
    summaries = vault.list(filter={"memory_type": "summary"}).memories
    by_source = {frozenset(s.metadata["summary_of"]): s for s in summaries}
    garden = by_source[frozenset(stored[t].id for t in GARDEN)]
    car = by_source[frozenset(stored[t].id for t in CAR)]
    assert garden.metadata["source_count"] == 4
    assert garden.metadata["first_created_at"] == stored[GARDEN[0]].created_at.isoformat()
    assert garden.metadata["last_created_at"] == stored[GARDEN[-1]].created_at.isoformat()
    assert garden.created_at == stored[GARDEN[-1]].created_at
    assert garden.metadata["summarizer"] == "extractive"
    assert garden.metadata["summary_operation"] == op.id
    assert set(garden.tags) == {"garden", "log", "summary"}
    assert garden.importance == max(stored[t].importance for t in GARDEN)
    # Extractive: every sentence comes from a source, the most central ones first said.
    assert all(sentence in " ".join(GARDEN) for sentence in garden.content.split(". "))
    assert "oil change" in car.content
    assert vault.count() == before + 2
    # A rerun finds everything covered, and the summary is found by search.
    assert vault.upkeep.summarize(older_than="30d", similarity=0.5) == ([], None)
    hit = vault.search("tomato plants", k=1, filter={"memory_type": "summary"})[0]
    assert hit.memory.id == garden.id and items


def test_dry_run_writes_nothing_and_undo_removes_the_summaries(topical):
    vault, _ = topical
    before = snapshot(vault.store_backend)
    items, op = vault.upkeep.summarize(older_than="30d", similarity=0.5, dry_run=True)
    assert op is None and len(items) == 2
    assert snapshot(vault.store_backend) == before
    _, op = vault.upkeep.summarize(older_than="30d", similarity=0.5)
    vault.upkeep.undo(op.id)
    assert snapshot(vault.store_backend) == before


def test_archive_originals_moves_them_out_and_undo_brings_them_back(topical):
    vault, stored = topical
    before = snapshot(vault.store_backend)
    _, op = vault.upkeep.summarize(older_than="30d", similarity=0.5, archive_originals=True)
    archived = vault.upkeep.operations()[-1]
    assert archived.kind == "archive" and op.result["archive_operation"] == archived.id
    assert archived.result["archived"] == len(GARDEN) + len(CAR)
    assert vault.store_backend.get_many([stored[GARDEN[0]].id]) == []
    assert vault.get(stored[SINGLES[0]].id).content == SINGLES[0]
    assert vault.count(filter={"memory_type": "summary"}) == 2
    vault.upkeep.undo(op.id)
    assert snapshot(vault.store_backend) == before


class ChatPeer(BaseHTTPRequestHandler):
    """A chat-completions server: answers with the memories it was sent, counted."""

    requests: ClassVar[list[dict]] = []
    status = 200

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        listing = body["messages"][-1]["content"].splitlines()[1:]
        answer = {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": f"{len(listing)} notes about {body['model']} topics.",
                    }
                }
            ]
        }
        payload = json.dumps(answer if self.status == 200 else {"error": "down"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    ChatPeer.requests, ChatPeer.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatPeer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_an_openai_compatible_endpoint_writes_abstractive_summaries(topical, chat_server):
    vault, _ = topical
    chat = ChatSummarizer(chat_server, "tiny-model", api_key="sk-test")
    _, op = vault.upkeep.summarize(older_than="30d", similarity=0.5, summarizer=chat)
    contents = sorted(m.content for m in vault.list(filter={"memory_type": "summary"}).memories)
    assert contents == ["3 notes about tiny-model topics.", "4 notes about tiny-model topics."]
    first = ChatPeer.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
    assert first["body"]["model"] == "tiny-model"
    assert [m["role"] for m in first["body"]["messages"]] == ["system", "user"]
    assert op.status == "applied"


def test_a_failing_endpoint_is_reported_and_nothing_is_stored(topical, chat_server):
    vault, _ = topical
    before = snapshot(vault.store_backend)
    ChatPeer.status = 500
    with pytest.raises(SummarizerUnavailable) as failed:
        vault.upkeep.summarize(
            older_than="30d", similarity=0.5, summarizer=ChatSummarizer(chat_server, "tiny-model")
        )
    assert failed.value.field == "summary_url" and "500" in failed.value.message
    assert snapshot(vault.store_backend) == before
    assert vault.store_backend.count(Filter(namespace=None, memory_type="summary")) == 0
