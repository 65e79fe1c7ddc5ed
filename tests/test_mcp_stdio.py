"""``memvault mcp`` spawned over stdio and driven by the SDK's stdio client."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import anyio

from memvault.mcp import stdio as mcp_stdio

from .mcp_helpers import (
    TOOL_NAMES,
    check_store_after_exercise,
    exercise_every_tool,
    mcp_params,
    ok,
    refused,
    stdio_client,
)


def test_every_tool_over_stdio_against_the_store(tmp_path: Path, embedder):
    db = tmp_path / "memories.db"

    async def scenario() -> dict:
        # With an option, `memvault mcp` goes through the command line (typer).
        async with stdio_client(tmp_path, db, "--namespace", "code") as client:
            return await exercise_every_tool(client, "code")

    seen = anyio.run(scenario)
    assert seen["health"]["mode"] == "direct"
    check_store_after_exercise(seen, db, "code", embedder)


def test_recorded_handshake_is_the_sdks_answer_for_this_server():
    recorded = json.loads(mcp_stdio.HANDSHAKE_FILE.read_text(encoding="utf-8"))
    assert recorded == mcp_stdio.record(), "run: python -m memvault.mcp.stdio --record"
    assert mcp_stdio.load_handshake() == recorded


def test_handshake_recorded_for_other_code_or_sdk_is_not_used(tmp_path, monkeypatch):
    recorded = json.loads(mcp_stdio.HANDSHAKE_FILE.read_text(encoding="utf-8"))
    for changed in ({"surface": "0" * 64}, {"sdk": "0.0.1"}):
        copy = tmp_path / "handshake.json"
        copy.write_text(json.dumps({**recorded, **changed}), encoding="utf-8")
        monkeypatch.setattr(mcp_stdio, "HANDSHAKE_FILE", copy)
        assert mcp_stdio.load_handshake() is None


def test_raw_handshake_then_an_immediate_call_gets_one_answer_each(tmp_path: Path):
    """initialize and tools/list come from the recording, the call from the SDK once
    it has loaded; the SDK's own replies to the first two are not sent again."""
    params = mcp_params(tmp_path, tmp_path / "m.db")
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "memory_stats", "arguments": {}},
        },
    ]
    proc = subprocess.Popen(
        [params.command, *params.args],
        env=params.env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # All at once, before the SDK can have loaded; stdin stays open until the last
    # reply, since closing it cancels what is still running.
    proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
    proc.stdin.flush()
    replies = [json.loads(proc.stdout.readline()) for _ in range(3)]
    proc.stdin.close()
    rest, stderr = proc.stdout.read(), proc.stderr.read()
    proc.wait(timeout=60)
    assert rest == "" and [r["id"] for r in replies] == [1, 2, 3], stderr
    recorded = mcp_stdio.load_handshake()
    version = recorded["versions"]["2025-06-18"]
    assert replies[0]["result"] == recorded["results"][version["initialize"]]
    assert replies[0]["result"]["protocolVersion"] == "2025-06-18"
    assert replies[1]["result"] == recorded["results"][version["tools"]]
    assert replies[2]["result"]["structuredContent"]["total"] == 0
    assert "differs" not in stderr


def test_client_negotiating_the_newest_protocol_is_served_by_the_sdk(tmp_path: Path):
    from mcp import Client

    async def scenario() -> None:
        async with Client(mcp_params(tmp_path, tmp_path / "m.db"), mode="auto") as client:
            assert len((await client.list_tools()).tools) == len(TOOL_NAMES)
            assert (await ok(client, "memory_stats"))["total"] == 0

    anyio.run(scenario)


def test_two_stdio_servers_on_one_file_see_each_others_writes(tmp_path: Path):
    db = tmp_path / "shared.db"
    facts = {
        "desktop": [
            f"Desktop note {i}: the {w} report is due"
            for i, w in enumerate(["sales", "audit", "hiring", "budget", "roadmap"])
        ],
        "code": [
            f"Code note {i}: module {w} needs tests"
            for i, w in enumerate(["parser", "lexer", "planner", "cache", "router"])
        ],
    }
    shared = "Both assistants know the office closes at 6pm"
    seen: dict[str, dict] = {}

    async def assistant(name: str, other: str) -> None:
        async with stdio_client(tmp_path, db) as client:
            errors = []
            for content in [*facts[name], shared]:
                result = await client.call_tool(
                    "memory_store", {"content": content, "tags": [name]}
                )
                if result.is_error:
                    errors.append(result.content[0].text)
            done[name].set()
            await done[other].wait()
            hits = await ok(client, "memory_search", query=facts[other][2], limit=3)
            stats = await ok(client, "memory_stats")
            seen[name] = {
                "errors": errors,
                "stats": stats,
                "hits": [h["memory"]["content"] for h in hits["results"]],
            }

    async def both() -> None:
        done.update(desktop=anyio.Event(), code=anyio.Event())
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(assistant, "desktop", "code")
            tasks.start_soon(assistant, "code", "desktop")

    done: dict[str, anyio.Event] = {}
    anyio.run(both)
    for name, other in (("desktop", "code"), ("code", "desktop")):
        assert seen[name]["errors"] == []
        assert seen[name]["stats"]["total"] == 11
        assert seen[name]["hits"][0] == facts[other][2]


def test_module_entry_point_serves_too(tmp_path: Path):
    params = mcp_params(tmp_path, tmp_path / "m.db")
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    proc = subprocess.run(
        [sys.executable, "-m", "memvault.mcp.stdio"],
        env=params.env,
        text=True,
        input=json.dumps(request) + "\n",
        capture_output=True,
        timeout=300,
    )
    assert json.loads(proc.stdout.splitlines()[0])["result"]["serverInfo"]["name"] == "memvault"


def test_front_answers_only_a_well_formed_handshake(tmp_path: Path):
    recorded = mcp_stdio.load_handshake()
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},  # before initialize: the SDK's
        {"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {"capabilities": {}}},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "initialize",
            "params": {
                "protocolVersion": "1999-01-01",
                "capabilities": {},
                "clientInfo": {"name": "x"},
            },
        },
        {"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"cursor": "next"}},
        {"jsonrpc": "2.0", "id": 5, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "memory_stats"}},
        "not json",
    ]
    out = mcp_stdio._Capture()
    front = mcp_stdio.HandshakeFront(recorded, out)
    data = b"".join((m if isinstance(m, str) else json.dumps(m)).encode() + b"\n" for m in lines)
    assert front.read_from(io.BytesIO(data)) is True
    replies = [json.loads(line) for line in out.lines()]
    assert [r["id"] for r in replies] == [3, 5]
    assert replies[0]["result"]["protocolVersion"] == recorded["latest"]
    queued = []
    while (line := front.inbox.get()) is not None:
        queued.append(line)
    assert len(queued) == len(lines)
    assert front.already_answered(json.dumps({"jsonrpc": "2.0", "id": 5, "result": {}}))
    assert not front.already_answered(json.dumps({"jsonrpc": "2.0", "id": 5, "result": {}}))


def test_misconfiguration_is_a_tool_error_and_the_server_keeps_answering(tmp_path: Path):
    missing = tmp_path / "no-such-model"

    async def scenario() -> dict:
        async with stdio_client(
            tmp_path, tmp_path / "m.db", MEMVAULT_EMBEDDING_MODEL=str(missing)
        ) as client:
            stored = await refused(client, "memory_store", content="anything")
            health = await ok(client, "memory_health")
            listed = await client.list_tools()
            return {"stored": stored, "health": health, "tools": len(listed.tools)}

    seen = anyio.run(scenario)
    assert seen["stored"]["field"] == "embedding_model"
    assert str(missing) in seen["stored"]["message"]
    assert seen["health"]["status"] == "error"
    assert seen["tools"] == len(TOOL_NAMES)


def test_bad_settings_stop_memvault_mcp_with_one_clear_line(tmp_path: Path):
    params = mcp_params(tmp_path, tmp_path / "m.db", MEMVAULT_PORT="eighty")
    proc = subprocess.run(
        [params.command, *params.args],
        env=params.env,
        text=True,
        input="",
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == "memvault mcp: MEMVAULT_PORT must be an integer, got 'eighty'"
