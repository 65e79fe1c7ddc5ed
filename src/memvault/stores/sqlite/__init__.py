"""The embedded default store: one SQLite file (APSW), vectors scanned in process, words in FTS5."""
