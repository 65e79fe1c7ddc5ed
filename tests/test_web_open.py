"""``memvault serve --open`` and ``memvault ui`` open the dashboard in the user's browser."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

from .conftest import cli_env
from .mcp_helpers import free_port, stop, wait_until_healthy


def opened(tmp_path: Path, name: str) -> tuple[dict[str, str], Path]:
    """An environment whose "browser" (Python's webbrowser honours $BROWSER) writes the
    address it was given to a file; that file."""
    record = tmp_path / name
    script = f"import sys; open({str(record)!r}, 'w').write(sys.argv[1])"
    return {"BROWSER": f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} %s"}, record


def wait_for(path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"nothing opened ({path})"
        time.sleep(0.1)
    return path.read_text()


def test_serve_open_then_ui_opens_the_running_dashboard(tmp_path: Path):
    port = free_port()
    browser, record = opened(tmp_path, "serve-opened")
    env = cli_env(tmp_path, MEMVAULT_STORE_URL=f"sqlite://{tmp_path / 'ui.db'}", **browser)
    proc = subprocess.Popen(
        [sys.executable, "-m", "memvault", "serve", "--port", str(port), "--open"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_healthy(port, proc)
        assert wait_for(record) == f"http://127.0.0.1:{port}/"
        again, second = opened(tmp_path, "ui-opened")
        ui = subprocess.run(
            [sys.executable, "-m", "memvault", "ui", "--port", str(port)],
            env={**env, **again},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ui.returncode == 0, ui.stderr
        assert wait_for(second) == f"http://127.0.0.1:{port}/"
        assert proc.poll() is None  # ui found the server and started no other
    finally:
        stop(proc)
