"""The postings' visibility map set by a plain VACUUM when it is mostly unset.

Word searches read the postings by index-only scans (``postings``), which
fetch a posting's row unless the visibility map marks its page all visible.
The migration that fills the postings of a store from before them runs in
the migrations' transaction, where VACUUM cannot, so it leaves the map empty:
every posting a search reads fetches its row until autovacuum gets to the
table. ``memvault serve`` at its start (``repair_in_background``) vacuums
them in a thread when fewer than half their pages are marked, as
``pg_class`` last counted them (the migration's index build counted the
pages, none marked). A plain VACUUM, not FULL: writes and searches go on.
(Where commits are asynchronous, ``synchronous_commit = off``, it marks no
page whose rows were committed too recently to be on disk yet; autovacuum
marks those later.)
"""

from __future__ import annotations

import logging

from ...errors import MemvaultError
from .background import BackgroundWork
from .database import Database
from .rows import one_value

log = logging.getLogger(__name__)

UNMARKED = (
    "SELECT relpages > 2 * relallvisible FROM pg_class WHERE oid = 'memvault_postings'::regclass"
)
VACUUM = "VACUUM (ANALYZE) memvault_postings"


class PostingsVacuum(BackgroundWork):
    """The background VACUUM of the postings, at most one per store object."""

    def __init__(self, db: Database) -> None:
        super().__init__("memvault-vacuum")
        self._db = db

    def start(self) -> str | None:
        """Start the VACUUM if most pages are not marked all visible; what is happening,
        in words, or None when they are."""
        if self.running:
            return None
        with self._db.cursor() as cur:
            if not one_value(cur.execute(UNMARKED)):
                return None
        self._begin(self._vacuum)
        return (
            "Most pages of the word postings are not marked all visible (as after the "
            "upgrade that made them): vacuuming them in the background. Word searches "
            "read the postings' rows until then (slower, the same results)."
        )

    def _vacuum(self) -> None:
        try:
            with (
                self._db.connection_of_its_own("memvault vacuum") as conn,
                self._cancellable(conn) as going_on,
            ):
                if going_on:
                    conn.execute(VACUUM)
        except MemvaultError as exc:
            if not self._closing:
                log.warning("vacuuming the word postings failed (autovacuum will): %s", exc)
