"""Run a command against a throwaway PostgreSQL + pgvector (the tests' embedded server).

    python bench/with_postgres.py python bench/ingest_search.py --n 10000 --store-url {url}

``{url}`` in the arguments becomes the URL of a new, empty database on a server
started in a temporary directory on a free 127.0.0.1 port; the server is
stopped and its directory removed when the command ends.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg_server import EmbeddedPostgres  # noqa: E402


def main() -> int:
    command = sys.argv[1:]
    if not command or command[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if command else 2
    with EmbeddedPostgres({"shared_buffers": "1GB"}) as server:
        url = server.create_database("bench")
        return subprocess.call([arg.replace("{url}", url) for arg in command])


if __name__ == "__main__":
    sys.exit(main())
