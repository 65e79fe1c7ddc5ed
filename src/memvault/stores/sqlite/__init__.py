"""The embedded default store: one SQLite file (APSW), vectors scanned in process, words in FTS5.

What other layers may use without opening a store is exported here: where a
``sqlite://`` URL points and what the file there holds (``location``), a
connection that can only read it, and its rows read by column name (``rows``).
"""

from .location import Layout, open_read_only, sqlite_layout, sqlite_path
from .rows import Row, named, scalar

__all__ = ["Layout", "Row", "named", "open_read_only", "scalar", "sqlite_layout", "sqlite_path"]
