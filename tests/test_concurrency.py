"""Several processes writing one SQLite file at once: nothing lost, nothing surfaced."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from memvault import Vault

from .conftest import cli_env

WRITER = """
import sys
from memvault import Vault
url, worker = sys.argv[1], int(sys.argv[2])
with Vault.open(url) as vault:
    vault.embedder.load()
    print("ready", flush=True)
    sys.stdin.readline()  # start together, so the writes really overlap
    for i in range(250):
        vault.store(f"worker {worker} remembers fact number {i}", tags=[f"w{worker}"])
print("done", flush=True)
"""


def test_four_processes_storing_250_each_give_exactly_1000(tmp_path: Path, embedder, settings):
    url = f"sqlite://{tmp_path / 'shared.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(w)],
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(tmp_path),
        )
        for w in range(4)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "locked" not in err.lower()
        assert out.strip() == "done"
    with Vault.open(url, settings=settings, embedder=embedder) as vault:
        assert vault.count() == 1000
        for w in range(4):
            assert vault.count(filter={"tags_any": [f"w{w}"]}) == 250
        # Within one writer's tag: across writers the four "fact number 17" were
        # written moments apart, and a remark followed by a match of the query
        # takes credit from it (the next match's credit), so another worker's
        # could rank first, depending on how the writes interleaved.
        for w in range(4):
            fact = f"worker {w} remembers fact number 17"
            hits = vault.search(fact, k=1, filter={"tags_any": [f"w{w}"]})
            assert hits[0].memory.content == fact
