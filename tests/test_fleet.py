"""A fleet: three ``memvault serve`` processes on one PostgreSQL and one Redis, written
to and searched through all three at once, one of them killed and restarted midway.

Afterwards every memory is stored exactly once, every server finds every
acknowledged memory, and nothing the killed server acknowledged is lost.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
import uuid

import httpx
import psycopg

from .mcp_helpers import start_serve, stop
from .pg_server import free_port

API = "/api/v1"
WRITERS = 6
RUN_S = 30.0
NAMESPACE = "fleet"


class Fleet:
    """Three servers on one store; the clients' view of which one is up."""

    def __init__(self, tmp_path, store_url: str, cache_url: str) -> None:
        self.tmp_path, self.store_url, self.cache_url = tmp_path, store_url, cache_url
        self.ports = [free_port() for _ in range(3)]
        self.processes = [self._start(port) for port in self.ports]

    def _start(self, port: int):
        return start_serve(self.tmp_path, self.store_url, port, MEMVAULT_CACHE_URL=self.cache_url)

    def base(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i % 3]}{API}"

    def kill_and_restart(self, i: int) -> None:
        self.processes[i].send_signal(signal.SIGKILL)
        self.processes[i].wait(timeout=30)
        self.processes[i] = self._start(self.ports[i])

    def close(self) -> None:
        for process in self.processes:
            stop(process)


def store_until_acknowledged(
    fleet: Fleet, first: int, content: str, client: httpx.Client
) -> tuple[str, int]:
    """Store ``content``, trying the next server while one is down; (id, server)."""
    for attempt in itertools.count():
        server = (first + attempt) % 3
        try:
            response = client.post(
                f"{fleet.base(server)}/memories", json={"content": content, "namespace": NAMESPACE}
            )
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code in (200, 201):
            return response.json()["memory"]["id"], server
        assert response.status_code == 503, response.text  # only a store outage may refuse
        time.sleep(0.2)
    raise AssertionError("unreachable")


def finds(fleet: Fleet, server: int, token: str, client: httpx.Client) -> list[str] | None:
    """Ids a server's search for ``token`` returns; None if the server is down."""
    try:
        response = client.post(
            f"{fleet.base(server)}/search", json={"query": token, "k": 5, "namespace": NAMESPACE}
        )
    except httpx.TransportError:
        return None
    if response.status_code == 503:
        return None
    assert response.status_code == 200, response.text
    return [hit["memory"]["id"] for hit in response.json()["hits"]]


def test_three_servers_share_one_store_and_lose_nothing(tmp_path, pg_server, redis_server):
    name = f"fleet_{uuid.uuid4().hex}"
    fleet = Fleet(tmp_path, pg_server.create_database(name), redis_server.url)
    acknowledged: dict[str, tuple[str, str]] = {}  # content -> (id, token)
    by_killed: list[str] = []
    unseen: list[tuple[int, str]] = []
    failures: list[Exception] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + RUN_S

    def writer(w: int) -> None:
        try:
            write_and_search(w)
        except Exception as exc:  # reported by the test, not lost with the thread
            failures.append(exc)

    def write_and_search(w: int) -> None:
        with httpx.Client(timeout=60) as client:
            for i in itertools.count():
                if time.monotonic() > stop_at:
                    return
                token = f"tok{uuid.uuid4().hex[:12]}"
                # Every other memory is also written by the next writer, through
                # another server: each must still be stored once.
                content = (
                    f"fleet note {token} from writer {w}" if i % 2 else f"shared fact {w // 2} {i}"
                )
                if i % 2:  # asked before it exists: a search result the write must drop
                    finds(fleet, w + i + 1, token, client)
                memory_id, server = store_until_acknowledged(fleet, w + i, content, client)
                with lock:
                    acknowledged.setdefault(content, (memory_id, token if i % 2 else ""))
                    assert acknowledged[content][0] == memory_id
                    if server == 2:
                        by_killed.append(memory_id)
                if i % 2:  # another server sees it at once
                    found = finds(fleet, w + i + 1, token, client)
                    if found is not None and memory_id not in found:
                        unseen.append((w, token))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    time.sleep(RUN_S / 3)
    fleet.kill_and_restart(2)
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        assert unseen == []
        assert len(acknowledged) > 4 * WRITERS and by_killed
        with psycopg.connect(fleet.store_url) as conn:
            stored = conn.execute(
                "SELECT content, id FROM memvault_memories WHERE namespace = %s", (NAMESPACE,)
            ).fetchall()
        assert sorted(content for content, _ in stored) == sorted(acknowledged)
        assert dict(stored) == {c: memory_id for c, (memory_id, _) in acknowledged.items()}
        with httpx.Client(timeout=60) as client:
            tokens = [(memory_id, token) for memory_id, token in acknowledged.values() if token]
            for memory_id, token in tokens[:: max(1, len(tokens) // 20)]:
                for server in range(3):
                    assert memory_id in finds(fleet, server, token, client), (server, token)
    finally:
        fleet.close()
        pg_server.drop_database(name)
