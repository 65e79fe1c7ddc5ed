"""How fast ``memvault mcp`` starts and answers: prints figures, asserts nothing.

    python bench/mcp_latency.py [--spawns 7] [--calls 30] [--forward]

1. Spawn to ``initialize`` and to ``tools/list`` answered, over raw stdio pipes,
   with the recorded handshake (as shipped) and without it (every message waits
   for the SDK to import), median and worst of ``--spawns`` runs.
2. Time from spawn until the first ``memory_store`` returns (waits for the model).
3. Per-tool round trip through the SDK's stdio client, p50 and p95 of ``--calls``
   calls each, once the model is loaded. With ``--forward`` a ``memvault serve``
   runs for the same store and the stdio server forwards every call to it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
from mcp import Client, StdioServerParameters

from memvault.config import Settings

SRC = Path(__file__).resolve().parents[1] / "src"
HANDSHAKE = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]
WITHOUT_RECORDING = "import memvault.mcp.stdio as s; s.load_handshake = lambda: None; s.serve()"


def environment(store: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMVAULT_", "MCP_"))}
    # A fresh data directory, but the usual model cache: the one-time ONNX
    # export (``make model``) is not part of a server's start.
    env.update(
        PYTHONPATH=str(SRC),
        MEMVAULT_STORE_URL=f"sqlite://{store}",
        MEMVAULT_DATA_DIR=str(store.parent),
        MEMVAULT_PORT=str(port),
        MEMVAULT_MODEL_CACHE_DIR=str(Settings.from_env().model_cache_dir),
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str]) -> subprocess.Popen:
    """``memvault serve`` on the environment's port, once its model has loaded."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "memvault", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{env['MEMVAULT_PORT']}/api/v1/health"
    while True:
        try:
            if httpx.get(url, timeout=2).json().get("model_loaded"):
                return proc
        except (httpx.HTTPError, ValueError):
            pass
        if proc.poll() is not None:
            raise SystemExit("memvault serve exited")
        time.sleep(0.5)


def spawn_to_tools(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawn to the initialize reply, and to the tools/list reply."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in HANDSHAKE))
    proc.stdin.flush()
    proc.stdout.readline()
    initialized = time.perf_counter() - started
    assert json.loads(proc.stdout.readline())["result"]["tools"]
    listed = time.perf_counter() - started
    proc.stdin.close()
    proc.wait(timeout=60)
    return initialized, listed


def report_spawns(name: str, command: list[str], env: dict[str, str], runs: int) -> None:
    times = [spawn_to_tools(command, env) for _ in range(runs)]
    init, listed = [t[0] for t in times], [t[1] for t in times]
    print(
        f"  {name:<26} initialize {statistics.median(init) * 1000:6.0f} ms "
        f"(max {max(init) * 1000:5.0f})   tools/list {statistics.median(listed) * 1000:6.0f} ms "
        f"(max {max(listed) * 1000:5.0f})"
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def tool_latencies(env: dict[str, str], calls: int) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "memvault", "mcp"], env=env)
    started = time.perf_counter()
    async with Client(params, mode="legacy", read_timeout_seconds=600) as client:
        first = await client.call_tool("memory_store", {"content": "bench: the first memory"})
        assert not first.is_error, first.content
        print(
            f"\nspawn to first memory_store returned (waits for the model): "
            f"{time.perf_counter() - started:.2f} s"
        )
        hashes = []
        for i in range(calls):
            result = await client.call_tool(
                "memory_store",
                {
                    "content": f"bench memory {i}: topic {i % 7} keeps coming back",
                    "tags": ["bench"],
                },
            )
            hashes.append(result.structured_content["memory"]["content_hash"])
        plan = {
            "memory_store": lambda i: {"content": f"bench latency note {i}", "tags": ["b"]},
            "memory_search": lambda i: {"query": f"what came back about topic {i % 7}?"},
            "memory_search (tags)": lambda i: {"query": f"topic {i}", "tags": ["bench"]},
            "memory_list": lambda i: {"page": 1 + i % 3, "page_size": 10},
            "memory_get": lambda i: {"content_hash": hashes[i]},
            "memory_update": lambda i: {"content_hash": hashes[i], "importance": 0.6},
            "memory_stats": lambda i: {},
            "memory_health": lambda i: {},
            "memory_delete": lambda i: {"content_hash": hashes[i]},
        }
        print(f"\nper-tool round trip over stdio, {calls} calls each:")
        print(f"  {'tool':<22} {'p50 ms':>8} {'p95 ms':>8}")
        for label, arguments in plan.items():
            name = label.split()[0]
            seconds = []
            for i in range(calls):
                t = time.perf_counter()
                result = await client.call_tool(name, arguments(i))
                seconds.append(time.perf_counter() - t)
                assert not result.is_error, result.content
            print(
                f"  {label:<22} {percentile(seconds, 50) * 1000:8.1f} "
                f"{percentile(seconds, 95) * 1000:8.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spawns", type=int, default=7)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument(
        "--forward",
        action="store_true",
        help="run memvault serve for the store and measure forwarding",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = environment(Path(tmp) / "bench.db", free_port())
        print(
            f"memvault mcp latency  (cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f})"
        )
        print(f"\nspawn to answers, {args.spawns} spawns each (median, max):")
        for name, command in [
            ("memvault mcp", [sys.executable, "-m", "memvault", "mcp"]),
            ("python -m memvault.mcp.stdio", [sys.executable, "-m", "memvault.mcp.stdio"]),
            ("without recorded handshake", [sys.executable, "-c", WITHOUT_RECORDING]),
        ]:
            report_spawns(name, command, env, args.spawns)
        server = start_server(env) if args.forward else None
        try:
            if server:
                print("\nforwarding every call to memvault serve on the same store")
            anyio.run(tool_latencies, env, args.calls)
        finally:
            if server:
                server.terminate()
                server.wait(timeout=60)


if __name__ == "__main__":
    main()
