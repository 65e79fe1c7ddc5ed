"""The embedded default store: one SQLite file (APSW), vectors scanned in process, words in FTS5.

What other layers may use without opening a store is exported here: where a
``sqlite://`` URL points and what the file there holds (``location``), and a
connection that can only read it.
"""

from .location import Layout, open_read_only, sqlite_layout, sqlite_path

__all__ = ["Layout", "open_read_only", "sqlite_layout", "sqlite_path"]
