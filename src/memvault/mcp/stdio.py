"""``memvault mcp``: MCP over stdio that answers the handshake before the SDK has loaded.

MCP clients start the server and wait for ``initialize`` and ``tools/list``;
some give up after a few seconds. Importing the MCP SDK alone takes about a
second on a small machine (its protocol types are built at import), and the
embedding model several more. So the server starts in two steps:

1. At once, with the standard library only, a reader thread takes stdin and
   answers ``initialize`` and ``tools/list`` from ``handshake.json``: the
   answers the SDK itself gave to this very server, recorded for each protocol
   version by ``python -m memvault.mcp.stdio --record``. Every message, these
   two included, is also queued for the SDK.
2. Meanwhile the SDK loads and the server is built. It then reads the queue in
   order, so its session sees the whole conversation; its own replies to the
   two already-answered requests are dropped. Tool calls simply wait in the
   queue until it is ready, and a call that needs the model waits for that.

The recorded answers are used only when they belong to the installed SDK
version and to this exact server source (a hash of every module of this
package, ``mcp.tools`` included); otherwise every message waits for the SDK,
which is slower but never wrong. A test keeps the recording current.

While serving, fd 1 points at stderr, so nothing printed by a library can
corrupt the protocol stream.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import queue
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

if TYPE_CHECKING:
    from ..config import Settings
    from .work import Runner

HANDSHAKE_FILE = Path(__file__).with_name("handshake.json")


class ByteSink(Protocol):
    """Where the front writes the wire's bytes: stdout's descriptor, or a capture."""

    def write(self, data: bytes, /) -> Any: ...
    def flush(self) -> None: ...


def surface_hash() -> str:
    """A digest of every other module of this package and its subpackages: any of them may
    shape the answers.

    Taken over the folder rather than a list of names, so a module moved in,
    renamed or added is covered without anyone remembering to list it.
    """
    digest = hashlib.sha256()
    here = Path(__file__)
    for module in sorted(here.parent.rglob("*.py")):
        if module != here:
            name = module.relative_to(here.parent).as_posix()
            digest.update(name.encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()


def sdk_is(version: str) -> bool:
    """Whether the installed ``mcp`` is this version, without importing it (that is slow)."""
    spec = importlib.util.find_spec("mcp")
    if spec is None or spec.origin is None:
        return False
    return (Path(spec.origin).parent.parent / f"mcp-{version}.dist-info").is_dir()


def load_handshake() -> dict[str, Any] | None:
    """The recorded answers, if they fit the installed SDK and this server's code."""
    try:
        recorded = json.loads(HANDSHAKE_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if recorded.get("surface") != surface_hash() or not sdk_is(recorded.get("sdk", "")):
        return None
    return recorded


class HandshakeFront:
    """Takes every line from the client; answers the handshake itself until the SDK is ready."""

    def __init__(self, recorded: dict[str, Any] | None, wire_out: ByteSink) -> None:
        self.recorded = recorded
        self.wire_out = wire_out
        self.inbox: queue.Queue[str | None] = queue.Queue()
        self.write_lock = threading.Lock()
        self.answered: dict[Any, Any] = {}  # request id -> result given here
        self.version: str | None = None
        self._ready = False
        self._lock = threading.Lock()

    def read_from(self, wire_in: BinaryIO) -> bool:
        """Every line, in order, until the client closes stdin; True if that came
        before the SDK was ready."""
        for raw in wire_in:
            line = raw.decode("utf-8", errors="replace")
            with self._lock:
                if not self._ready and self.recorded is not None:
                    self._answer(self.recorded, line)
                self.inbox.put(line)
        self.inbox.put(None)
        with self._lock:
            return not self._ready

    def sdk_ready(self) -> None:
        with self._lock:
            self._ready = True

    def _answer(self, recorded: dict[str, Any], line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict) or "id" not in message:
            return
        method, params = message.get("method"), message.get("params") or {}
        if not isinstance(params, dict):
            return
        if method == "initialize" and self.version is None:
            if not all(key in params for key in ("protocolVersion", "capabilities", "clientInfo")):
                return  # malformed: the SDK's error is the right answer
            requested = params.get("protocolVersion")
            versions = recorded["versions"]
            self.version = requested if requested in versions else recorded["latest"]
            result = recorded["results"][versions[self.version]["initialize"]]
        elif method == "tools/list" and self.version is not None and not params.get("cursor"):
            result = recorded["results"][recorded["versions"][self.version]["tools"]]
        else:
            return
        self.answered[message["id"]] = result
        self.write({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def write(self, message: dict[str, Any]) -> None:
        self.write_line(json.dumps(message, ensure_ascii=False, separators=(",", ":")))

    def write_line(self, line: str) -> None:
        with self.write_lock:
            self.wire_out.write(line.encode("utf-8") + b"\n")
            self.wire_out.flush()

    def already_answered(self, line: str) -> bool:
        """True for the SDK's reply to a request answered here (dropped, once per request)."""
        if not self.answered:
            return False
        message = json.loads(line)
        with self._lock:
            if "method" in message or message.get("id") not in self.answered:
                return False
            given = self.answered.pop(message["id"])
        if message.get("result") != given:
            print(
                "memvault: the recorded MCP handshake differs from the SDK's answer; "
                "run python -m memvault.mcp.stdio --record",
                file=sys.stderr,
            )
        return True


class QueueInput:
    """The SDK's stdin: the front's queue, as an async iterator of lines."""

    def __init__(self, front: HandshakeFront) -> None:
        self.front = front

    def __aiter__(self) -> QueueInput:
        return self

    async def __anext__(self) -> str:
        import anyio.to_thread

        line = await anyio.to_thread.run_sync(self.front.inbox.get, abandon_on_cancel=True)
        if line is None:
            raise StopAsyncIteration
        return line


class FilteredOutput:
    """The SDK's stdout: the wire, minus replies the front already gave."""

    def __init__(self, front: HandshakeFront) -> None:
        self.front = front

    async def write(self, text: str) -> None:
        for line in text.splitlines():
            if line and not self.front.already_answered(line):
                self.front.write_line(line)

    async def flush(self) -> None:
        return None


def claim_stdio() -> tuple[BinaryIO, BinaryIO]:
    """The protocol's own copies of stdin and stdout; fd 0 reads nothing, fd 1 goes to stderr."""
    wire_in = os.fdopen(os.dup(0), "rb")
    wire_out = os.fdopen(os.dup(1), "wb")
    with open(os.devnull, "rb") as devnull:
        os.dup2(devnull.fileno(), 0)
    os.dup2(2, 1)
    return wire_in, wire_out


def serve(settings: Settings | None = None, *, create_store: bool = True) -> None:
    """Run ``memvault mcp`` until the client closes stdin, then end the process.

    With ``create_store`` the store is created on first use if it does not
    exist; otherwise tools answer ``not_found`` naming it.

    The process ends with ``os._exit`` once the store is closed: a model still
    loading on a background thread would otherwise hold up the interpreter's
    shutdown for seconds, and clients kill servers that linger.
    """
    from ..config import Settings
    from ..errors import MemvaultError
    from ..limits import check_namespace

    try:
        settings = settings or Settings.from_env()
        check_namespace(settings.namespace, "MEMVAULT_NAMESPACE")
    except MemvaultError as exc:
        sys.exit(f"memvault mcp: {exc.message}")
    wire_in, wire_out = claim_stdio()
    front = HandshakeFront(load_handshake(), wire_out)

    def read_stdin() -> None:
        if front.read_from(wire_in):
            # The client left before the SDK was up: nothing is open yet, and the SDK
            # would only cancel what is queued, so there is nothing to wait for.
            os._exit(0)

    threading.Thread(target=read_stdin, name="mcp-stdin", daemon=True).start()

    import anyio

    from ..vault import Vault
    from .coordination import CoordinatingRunner
    from .runner import LocalRunner
    from .server import build_server

    local = LocalRunner(
        lambda: Vault.open(settings=settings, create=create_store), settings.namespace
    )
    runner = CoordinatingRunner(settings, local)
    server = build_server(runner)
    try:
        anyio.run(run_server, server, front, runner)
    finally:
        local.close()
        sys.stderr.flush()
        os._exit(0)


async def run_server(server: Any, front: HandshakeFront, runner: Any = None) -> None:
    """The SDK's stdio loop over the front's queue; ``runner.start`` runs alongside."""
    import anyio
    from mcp.server.stdio import stdio_server

    lowlevel = server._lowlevel_server  # no public accessor; the SDK's own Client does this
    async with anyio.create_task_group() as tasks:
        if runner is not None:
            tasks.start_soon(runner.start)
        # The SDK reads and writes these as its async text files (the methods it calls).
        stdin, stdout = cast(Any, QueueInput(front)), cast(Any, FilteredOutput(front))
        async with stdio_server(stdin=stdin, stdout=stdout) as (read, write):
            front.sdk_ready()
            await lowlevel.run(read, write, lowlevel.create_initialization_options())
        tasks.cancel_scope.cancel()


def record() -> dict[str, Any]:
    """The SDK's answers to initialize and tools/list for each handshake protocol version."""
    import anyio
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

    from .server import build_server

    results: list[Any] = []
    versions: dict[str, dict[str, int]] = {}

    def index(result: Any) -> int:
        if result not in results:
            results.append(result)
        return results.index(result)

    for version in HANDSHAKE_PROTOCOL_VERSIONS:
        # Only the handshake is asked for: no tool runs, so no runner is needed.
        server = build_server(runner=cast("Runner", None))
        replies = anyio.run(
            _converse,
            server,
            [
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": version,
                        "capabilities": {},
                        "clientInfo": {"name": "memvault-record", "version": "0"},
                    },
                },
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
            ],
        )
        versions[version] = {"initialize": index(replies[1]), "tools": index(replies[2])}
    return {
        "sdk": _sdk_version(),
        "surface": surface_hash(),
        "latest": LATEST_HANDSHAKE_VERSION,
        "versions": versions,
        "results": results,
    }


async def _converse(server: Any, messages: list[Any]) -> dict[Any, Any]:
    """Run ``server`` over an in-memory stdio conversation; its results by request id."""
    import anyio

    out = _Capture()
    front = HandshakeFront(None, out)
    for message in messages:
        front.inbox.put(json.dumps(message))
    expected = sum(1 for m in messages if "id" in m)

    async def close_when_answered() -> None:
        # Closing stdin cancels requests in flight, so wait for every reply first.
        while len(out.lines()) < expected:
            await anyio.sleep(0.01)
        front.inbox.put(None)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(close_when_answered)
        await run_server(server, front)
    replies = [json.loads(line) for line in out.lines()]
    return {reply["id"]: reply["result"] for reply in replies if "id" in reply}


class _Capture:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data.extend(data)

    def flush(self) -> None:
        return None

    def lines(self) -> list[str]:
        return [line for line in self.data.decode("utf-8").splitlines() if line]


def _sdk_version() -> str:
    from importlib.metadata import version

    return version("mcp")


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        HANDSHAKE_FILE.write_text(
            json.dumps(record(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        print(f"wrote {HANDSHAKE_FILE}", file=sys.stderr)
    else:
        serve()
