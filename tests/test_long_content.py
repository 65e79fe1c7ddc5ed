"""A long memory takes a while to embed: every interface says how far it got, or what it costs.

The library hears after each step of chunks, the CLI draws a bar on a terminal
(nothing with --json), the MCP store tool sends progress notifications when
the request asks for them, and the HTTP API states the limit and its cost.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import anyio

from memvault.memory_vectors import EMBED_STEP

from .conftest import cli_env
from .http_helpers import http_client
from .mcp_helpers import free_port, ok, start_serve, stdio_client, stop

# About 45 chunks of ~1 KB: more than one step, a few seconds of embedding.
LONG = " ".join(
    f"Paragraph {i} of the quarterly report: revenue, costs and the plans of team {i % 7}."
    for i in range(480)
)


def chunks_of(vault, content: str) -> int:
    return len(vault.writer.chunks(content))


def test_the_library_reports_each_step_of_chunks(vault):
    total = chunks_of(vault, LONG)
    assert total > EMBED_STEP
    heard: list[tuple[int, int]] = []
    result = vault.store(LONG, embedding_progress=lambda done, of: heard.append((done, of)))
    assert result.created
    steps = [*range(0, total, EMBED_STEP), total]
    assert heard == [(done, total) for done in steps]
    assert vault.count() == 1


def test_the_cli_draws_a_bar_on_a_terminal_and_none_with_json(tmp_path: Path, vault):
    total = chunks_of(vault, LONG)
    store = f"sqlite://{tmp_path / 'cli.db'}"
    command = [sys.executable, "-m", "memvault", "store", "-", "--store", store]
    # stderr on a terminal, as a person running the command has it.
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=cli_env(tmp_path, COLUMNS="100"),
    )
    os.close(follower)
    proc.stdin.write(LONG.encode())
    proc.stdin.close()
    drawn = b""
    while True:
        try:
            part = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not part:
            break
        drawn += part
    out = proc.stdout.read().decode()
    assert proc.wait(timeout=300) == 0, drawn.decode(errors="replace")
    os.close(leader)
    assert out.startswith("Stored ")
    screen = drawn.decode(errors="replace")
    assert f"Embedding {total} chunks" in screen
    seen = [int(n) for n in re.findall(rf"(\d+)/{total}\b", screen)]
    assert seen == sorted(seen) and seen[-1] == total

    quiet = subprocess.run(
        [*command[:-1], f"sqlite://{tmp_path / 'json.db'}", "--json"],
        input=LONG,
        capture_output=True,
        text=True,
        env=cli_env(tmp_path),
        timeout=300,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and '"created": true' in quiet.stdout


def test_the_mcp_store_tool_sends_progress_when_asked(tmp_path: Path, vault):
    total = chunks_of(vault, LONG)
    heard: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, of: float | None, message: str | None) -> None:
        heard.append((done, of, message))

    async def scenario() -> None:
        async with stdio_client(tmp_path, tmp_path / "mcp.db") as client:
            result = await client.call_tool(
                "memory_store", {"content": LONG}, progress_callback=progress
            )
            assert not result.is_error, result.content[0].text
            assert result.structured_content["created"] is True
            before = len(heard)
            short = await client.call_tool(
                "memory_store", {"content": "short"}, progress_callback=progress
            )
            assert not short.is_error and heard[before:] == [
                (0, 1, "embedded 0 of 1 chunks"),
                (1, 1, "embedded 1 of 1 chunks"),
            ]

    anyio.run(scenario)
    long_steps = heard[:-2]
    assert [of for _, of, _ in long_steps] == [total] * len(long_steps)
    done = [d for d, _, _ in long_steps]
    assert done == sorted(done) and done[0] == 0 and done[-1] == total and len(done) > 2
    assert long_steps[-1][2] == f"embedded {total} of {total} chunks"


def test_the_api_states_the_chunk_limit_and_its_cost(vault):
    client = http_client(vault)
    spec = client.get("/openapi.json").json()
    store = spec["paths"]["/api/v1/memories"]["post"]
    assert "MEMVAULT_MAX_CHUNKS" in store["description"] and "10-20 s" in store["description"]
    content = spec["components"]["schemas"]["StoreIn"]["properties"]["content"]
    assert "MEMVAULT_MAX_CHUNKS" in content["description"]


def test_progress_of_a_store_forwarded_to_a_server_reaches_the_client(tmp_path: Path, vault):
    """``memvault mcp`` forwarding to ``memvault serve`` relays the server's notifications."""
    total = chunks_of(vault, LONG)
    db, port = tmp_path / "shared.db", free_port()
    server = start_serve(tmp_path, db, port)
    heard: list[tuple[float, float | None]] = []

    async def progress(done: float, of: float | None, message: str | None) -> None:
        heard.append((done, of))

    async def scenario() -> None:
        async with stdio_client(tmp_path, db, MEMVAULT_PORT=str(port)) as client:
            assert (await ok(client, "memory_health"))["mode"] == "forwarding"
            result = await client.call_tool(
                "memory_store", {"content": LONG}, progress_callback=progress
            )
            assert not result.is_error, result.content[0].text

    try:
        anyio.run(scenario)
    finally:
        stop(server)
    done = [d for d, _ in heard]
    assert {of for _, of in heard} == {total}
    assert done == sorted(done) and done[0] == 0 and done[-1] == total and len(done) > 2
