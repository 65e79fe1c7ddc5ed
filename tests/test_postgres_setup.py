"""Opening a PostgreSQL store: schema migrations recorded once even when several
processes start together, servers memvault cannot work with refused with the fix,
a server that is unreachable or goes away and comes back, and URL options.
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from memvault.config import Settings
from memvault.errors import InvalidInput, StoreUnavailable
from memvault.model import Filter
from memvault.stores import open_store
from memvault.stores.postgres.migrations import MIGRATIONS
from memvault.stores.postgres.options import parse_postgres_url
from memvault.stores.postgres.schema import INDEXED_CHARS, TEXT_CONFIG, words_sql
from memvault.stores.postgres.store import PostgresStore
from memvault.stores.postgres.words import RECOUNT

from .conftest import start_together
from .pg_server import EmbeddedPostgres, free_port
from .test_store_conformance import DIM, SPEC, mem


# -- schema -------------------------------------------------------------------
def test_migrations_are_recorded_and_applied_once(database):
    first = PostgresStore(database)
    identity = first.identity()
    first.close()
    again = PostgresStore(database)
    assert again.identity() == identity != ""
    again.close()
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT version, description FROM memvault_migrations ORDER BY version"
        ).fetchall()
    assert rows == [(i, description) for i, (description, _) in enumerate(MIGRATIONS, 1)]


OPENER = """
import sys
from memvault.stores.postgres.store import PostgresStore
from memvault.stores.postgres.words import RECOUNT
print("ready", flush=True)
sys.stdin.readline()
store = PostgresStore(sys.argv[1])
print(store.identity())
store.close()
"""


def test_processes_opening_a_new_database_at_once_migrate_it_once(database, tmp_path):
    identities = start_together(OPENER, [[database]] * 4, tmp_path)
    assert len(set(identities)) == 1
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM memvault_migrations").fetchone()[0] == len(
            MIGRATIONS
        )


def test_a_schema_from_a_newer_memvault_is_refused(database):
    PostgresStore(database).close()
    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO memvault_migrations (version, description) VALUES (%s, 'x')",
            (len(MIGRATIONS) + 1,),
        )
    with pytest.raises(StoreUnavailable, match="newer than this memvault"):
        PostgresStore(database)


def test_a_database_not_in_utf8_is_refused(pg_server):
    name = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' TEMPLATE template0 "
            "LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    try:
        with pytest.raises(StoreUnavailable, match="encoded SQL_ASCII; memvault needs UTF8"):
            PostgresStore(pg_server.url(name))
    finally:
        pg_server.drop_database(name)


def test_the_vector_column_is_typed_and_indexed_with_the_configured_parameters(database):
    store = open_store(database + "?hnsw_m=8&hnsw_ef_construction=40", Settings.from_env({}))
    store.bind_embedding(SPEC)
    store.close()
    with psycopg.connect(database) as conn:
        kind = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
            "attrelid = 'memvault_memories'::regclass AND attname = 'embedding'"
        ).fetchone()[0]
        options = conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = 'memvault_memories_embedding'"
        ).fetchone()[0]
        method = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'memvault_memories_embedding'"
        ).fetchone()[0]
    assert kind == f"vector({DIM})"
    assert sorted(options) == ["ef_construction=40", "m=8"]
    assert "USING hnsw (embedding vector_cosine_ops)" in method


def back_to_version(conn: psycopg.Connection, version: int) -> None:
    """Undo the migrations after ``version`` that later tests exercise again."""
    if version < 13:  # waiting vectors kept in their rows
        conn.execute(
            "ALTER TABLE memvault_memories ALTER COLUMN fresh_embedding SET STORAGE EXTERNAL"
        )
    if version < 12:  # namespace and tags sampled together
        conn.execute("DROP STATISTICS memvault_memories_namespace_tags")
    if version < 11:  # vectors moved into the index one a transaction
        conn.execute("DROP PROCEDURE memvault_move_waiting")
    if version < 10:  # word counts in stripes: every count back in one row per lexeme
        for statement in RECOUNT:
            conn.execute(statement)
        conn.execute("DROP TABLE memvault_word_stripes")
        conn.execute("DROP TRIGGER memvault_word_stripes_cleared ON memvault_words")
        conn.execute("DROP FUNCTION memvault_word_stripes_cleared()")
    if version < 9:  # words found through their postings
        conn.execute("CREATE INDEX memvault_memories_words ON memvault_memories USING gin (words)")
    if version < 8:  # word postings
        conn.execute("DROP TABLE memvault_postings")
        for trigger in ("added", "removed", "changed"):
            conn.execute(f"DROP TRIGGER memvault_postings_{trigger} ON memvault_memories")
            conn.execute(f"DROP FUNCTION memvault_postings_{trigger}()")
    if version < 7:  # words from memvault's tokenizer: PostgreSQL's parser made them
        indexed = words_sql(f"left(content, {INDEXED_CHARS})")
        made = {
            "words": f"to_tsvector('{TEXT_CONFIG}'::regconfig, {indexed})",
            "word_count": f"cardinality(string_to_array(btrim({indexed}), ' '))",
        }
        conn.execute("DROP TRIGGER memvault_words_missing ON memvault_memories")
        conn.execute("DROP FUNCTION memvault_words_missing()")
        conn.execute("ALTER TABLE memvault_memories DROP COLUMN words_stale")
        for column, kind in (("words", "tsvector"), ("word_count", "integer")):
            conn.execute(f"ALTER TABLE memvault_memories DROP COLUMN {column}")
            conn.execute(
                f"ALTER TABLE memvault_memories ADD COLUMN {column} {kind} GENERATED ALWAYS AS "
                f"(CASE WHEN parent_id IS NULL THEN {made[column]} END) STORED"
            )
        conn.execute("CREATE INDEX memvault_memories_words ON memvault_memories USING gin (words)")
        for statement in RECOUNT:
            conn.execute(statement)
    if version < 5:  # vectors indexed after the write
        conn.execute("ALTER TABLE memvault_memories DROP COLUMN fresh_embedding")
    if version < 4:  # word counts for BM25
        conn.execute("ALTER TABLE memvault_memories DROP COLUMN word_count")
        conn.execute("DROP TABLE memvault_words")
    conn.execute("DELETE FROM memvault_migrations WHERE version > %s", (version,))


def test_writes_leave_the_tag_index_a_short_pending_list_to_read(database):
    # Every search through a GIN index reads its pending list whole; 3,000 memories
    # of ten new tags each fill about 100 pages of it under PostgreSQL's default limit.
    store = PostgresStore(database)
    store.bind_embedding(SPEC)
    memories = [
        mem(f"note {i}", i, tags=tuple(f"t{i}x{j}" for j in range(10))) for i in range(3_000)
    ]
    for start in range(0, len(memories), 100):
        store.add(memories[start : start + 100])
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        pending = conn.execute(
            "SELECT pending_pages FROM pgstatginindex('memvault_memories_tags')"
        ).fetchone()[0]
        words_index = conn.execute("SELECT to_regclass('memvault_memories_words')").fetchone()[0]
    # The limit, 256 kB, in pages, and the page a write fills before it merges them.
    assert pending <= 256 // 8 + 1
    assert words_index is None  # words are found through their postings
    found = store.query(Filter.build(tags_any=["t2999x3"]), limit=5).memories
    assert [m.id for m in found] == [memories[-1].id]
    store.close()


def test_a_store_from_before_the_word_counts_gets_them_counted(database):
    store = PostgresStore(database)
    store.bind_embedding(SPEC)
    store.add(
        [
            mem(text, i)
            for i, text in enumerate(
                ["the ferry to Lisbon leaves at noon", "Lisbon trams", "noon meeting, noon lunch"]
            )
        ]
    )
    before = store.text_search(["lisbon", "noon"], 5, Filter.build())
    store.index_waiting_vectors()
    store.close()
    with psycopg.connect(database) as conn:
        back_to_version(conn, 3)
    store = PostgresStore(database)
    store.word_converter.join()  # the words PostgreSQL made become memvault's
    assert store.text_search(["lisbon", "noon"], 5, Filter.build()) == before
    store.close()


def test_checkpoints_kept_as_notes_by_an_older_memvault_move_into_the_journal(database):
    PostgresStore(database).close()
    with psycopg.connect(database) as conn:  # the schema and notes as version 2 left them
        back_to_version(conn, 2)
        conn.execute(
            "INSERT INTO memvault_meta VALUES ('note:migration:abc', %s), "
            "('note:other', 'plain text')",
            ('{"cursor": "41", "moved": 40}',),
        )
    store = PostgresStore(database)
    assert store.journal_get("checkpoint", "migration:abc") == {"cursor": "41", "moved": 40}
    assert [key for key, _ in store.journal_list("checkpoint")] == ["migration:abc"]
    assert store.count(Filter(namespace=None, include_chunks=True)) == 0
    store.close()
    with psycopg.connect(database) as conn:
        notes = conn.execute("SELECT key FROM memvault_meta WHERE key LIKE 'note:%'").fetchall()
    assert notes == [("note:other",)]


# -- reaching the server --------------------------------------------------------
def test_an_unreachable_server_is_a_clear_error_at_open():
    url = f"postgresql://memvault:s3cret@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(StoreUnavailable, match="cannot connect to PostgreSQL") as caught:
        open_store(url, Settings.from_env({}))
    assert "refused" in str(caught.value).lower()
    assert "s3cret" not in str(caught.value)


def test_a_server_that_goes_away_fails_health_and_is_used_again_when_back():
    with EmbeddedPostgres() as server:
        store = PostgresStore(server.create_database("comeback") + "?pool_timeout=2")
        store.bind_embedding(SPEC)
        store.add([mem("before the restart", 1)])
        server.stop()
        with pytest.raises(StoreUnavailable, match=r"unreachable.*refused"):
            store.health()
        with pytest.raises(StoreUnavailable):
            store.count(Filter.build())
        server.start()
        assert store.health()["identity"] == store.identity()
        assert store.count(Filter.build()) == 1
        store.add([mem("after the restart", 2)])
        assert store.count(Filter.build()) == 2
        store.close()


def test_health_says_when_the_server_turns_read_only_and_writes_fail():
    with EmbeddedPostgres() as server:
        url = server.create_database("readonly")
        # One connection: the postmaster signals each backend of a reload on its own,
        # so with two, health could read one that has applied it and the write run on
        # one that has not yet (and succeed, as PostgreSQL allows).
        store = PostgresStore(url + ("&" if "?" in url else "?") + "pool_size=1")
        store.bind_embedding(SPEC)
        store.add([mem("written before", 1)])
        assert "problems" not in store.health()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            conn.execute("SELECT pg_reload_conf()")
        # Each session applies a reload when it next runs a command after the signal.
        deadline = time.monotonic() + 60
        while "problems" not in (report := store.health()):
            assert time.monotonic() < deadline, "the server never applied the reload"
            time.sleep(0.1)
        [read_only] = report["problems"]
        assert read_only.startswith("read-only: ") and "default_transaction_read_only" in read_only
        with pytest.raises(StoreUnavailable, match="read-only transaction"):
            store.add([mem("refused", 2)])
        problems = store.health()["problems"]
        assert problems[0] == read_only
        assert problems[1].startswith("writes fail: ") and "read-only transaction" in problems[1]
        assert store.count(Filter.build()) == 1  # reads work
        store.close()
        # Opened afresh on the read-only server: nothing to migrate, so it reads.
        reopened = PostgresStore(url)
        assert reopened.count(Filter.build()) == 1
        assert reopened.health()["problems"][0] == read_only
        reopened.close()


def test_database_url_is_used_when_no_store_url_is_set(database, tmp_path):
    env = {"DATABASE_URL": database, "MEMVAULT_DATA_DIR": str(tmp_path)}
    settings = Settings.from_env(env)
    assert settings.store_url == database
    assert settings.sources["store_url"] == "env DATABASE_URL"
    store = open_store(settings.store_url, settings)
    assert isinstance(store, PostgresStore)
    store.close()
    sqlite_url = f"sqlite://{tmp_path / 'x.db'}"
    assert Settings.from_env({**env, "MEMVAULT_STORE_URL": sqlite_url}).store_url == sqlite_url
    short = open_store("postgres://" + database.split("://", 1)[1], settings)
    assert short.identity() != ""
    short.close()


def test_url_options_and_their_environment_defaults():
    conninfo, options = parse_postgres_url(
        "postgresql://u:p@db.example:6543/mem?sslmode=require&hnsw_m=8&"
        "hnsw_ef_construction=40&ef_search=55&pool_size=3",
        Settings.from_env({"MEMVAULT_PG_EF_SEARCH": "70", "MEMVAULT_PG_POOL_SIZE": "7"}),
    )
    assert conninfo == "postgresql://u:p@db.example:6543/mem?sslmode=require"
    assert (options.hnsw_m, options.hnsw_ef_construction, options.ef_search, options.pool_size) == (
        8,
        40,
        55,
        3,
    )
    _, from_env = parse_postgres_url(
        "postgresql://h/db",
        Settings.from_env({"MEMVAULT_PG_EF_SEARCH": "70", "MEMVAULT_PG_POOL_SIZE": "7"}),
    )
    assert (from_env.ef_search, from_env.pool_size, from_env.hnsw_m) == (70, 7, 16)
    for bad in (
        "ef_search=0",
        "ef_search=many",
        "hnsw_m=4&hnsw_ef_construction=5",
        "no_such_parameter=1",
    ):
        with pytest.raises(InvalidInput) as caught:
            parse_postgres_url(f"postgresql://h/db?{bad}")
        assert caught.value.field == "store_url"
    with pytest.raises(InvalidInput) as caught:
        parse_postgres_url("postgresql://h/db", Settings.from_env({"MEMVAULT_PG_HNSW_M": "500"}))
    assert caught.value.field == "pg_hnsw_m"
