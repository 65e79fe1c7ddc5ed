"""The PostgreSQL store's schema as ordered migrations, and the checks of a server
before they run: whichever process starts first applies what is pending, under an
advisory lock, in one transaction."""

from __future__ import annotations

import psycopg

from ...errors import StoreUnavailable
from ...model import new_id
from . import postings, words
from .rows import one_value
from .schema import INDEXED_CHARS, MOVE_WAITING, TEXT_CONFIG, words_sql

# pg_advisory_xact_lock key held while migrating or binding the embedding, so
# that many processes starting at once change the schema one at a time.
SCHEMA_LOCK = int.from_bytes(b"memvault", "big")


def _move_waiting(moved: str) -> str:
    """The procedure moving waiting vectors into the index, ``moved`` the SET clause of a
    row moved: up to ``most`` waiting rows past rowid ``after``, in rowid order,
    committing each; with ``share`` it skips rows others hold, else waits for them. It
    gives how many it ``moved`` and the ``last`` rowid moved."""

    # PL/pgSQL takes no lock strength as a value: one statement for each.
    def move_one(lock: str) -> str:
        return f"""
                UPDATE memvault_memories m
                SET {moved}
                WHERE m.rowid = (SELECT w.rowid FROM memvault_memories w
                                 WHERE w.fresh_embedding IS NOT NULL AND w.rowid > last
                                 ORDER BY w.rowid LIMIT 1 {lock})
                RETURNING m.rowid INTO done;"""

    return f"""
    CREATE OR REPLACE PROCEDURE memvault_move_waiting(
        after bigint, most integer, share boolean,
        INOUT moved integer DEFAULT 0, INOUT last bigint DEFAULT 0)
    LANGUAGE plpgsql AS $$
    DECLARE
        done bigint;
    BEGIN
        moved := 0;
        last := after;
        WHILE moved < most LOOP
            PERFORM set_config('synchronous_commit', 'off', true);
            IF share THEN{move_one("FOR UPDATE SKIP LOCKED")}
            ELSE{move_one("FOR UPDATE")}
            END IF;
            EXIT WHEN done IS NULL;
            moved := moved + 1;
            last := done;
            COMMIT;
        END LOOP;
    END $$;
"""


# Each entry upgrades the schema by one version. Pending entries are applied in
# order, in one transaction under SCHEMA_LOCK, and recorded in
# memvault_migrations. Never edit a released entry: append a new one.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "memories table, word and tag indexes",
        f"""
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE EXTENSION IF NOT EXISTS unaccent;
    CREATE TEXT SEARCH DICTIONARY memvault_english_stem (TEMPLATE = snowball, language = english);
    CREATE TEXT SEARCH CONFIGURATION {TEXT_CONFIG} (COPY = pg_catalog.english);
    ALTER TEXT SEARCH CONFIGURATION {TEXT_CONFIG}
        ALTER MAPPING FOR asciiword, asciihword, hword_asciipart WITH memvault_english_stem;
    ALTER TEXT SEARCH CONFIGURATION {TEXT_CONFIG}
        ALTER MAPPING FOR word, hword, hword_part WITH unaccent, memvault_english_stem;
    CREATE TABLE memvault_meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE memvault_memories (
        rowid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text COLLATE "C" NOT NULL UNIQUE,
        namespace text COLLATE "C" NOT NULL,
        content text NOT NULL,
        content_hash text COLLATE "C" NOT NULL,
        tags text[] NOT NULL DEFAULT '{{}}',
        memory_type text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{{}}',
        importance double precision NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        last_accessed_at timestamptz,
        expires_at timestamptz,
        parent_id text COLLATE "C",
        chunk_index integer,
        -- Typed vector(dimension), with its HNSW index, once a model is bound.
        embedding vector NOT NULL,
        -- Only top-level memories hold words: a parent holds all its chunks' text.
        words tsvector GENERATED ALWAYS AS (CASE WHEN parent_id IS NULL THEN
            to_tsvector('{TEXT_CONFIG}'::regconfig,
                        {words_sql(f"left(content, {INDEXED_CHARS})")}) END) STORED
    );
    -- Uniqueness holds among top-level memories; chunks repeat their parent's identity.
    CREATE UNIQUE INDEX memvault_memories_namespace_hash
        ON memvault_memories (namespace, content_hash) WHERE parent_id IS NULL;
    -- Listing and keyset pages; the included columns let counts skip the table.
    CREATE INDEX memvault_memories_namespace_created
        ON memvault_memories (namespace, created_at, id) INCLUDE (parent_id, expires_at);
    CREATE INDEX memvault_memories_parent ON memvault_memories (parent_id)
        WHERE parent_id IS NOT NULL;
    CREATE INDEX memvault_memories_expires ON memvault_memories (expires_at)
        WHERE expires_at IS NOT NULL;
    CREATE INDEX memvault_memories_words ON memvault_memories USING gin (words);
    CREATE INDEX memvault_memories_tags ON memvault_memories USING gin (tags);
    CREATE INDEX memvault_memories_metadata ON memvault_memories
        USING gin (metadata jsonb_path_ops);
    """,
    ),
    (
        "journal of upkeep records (operation log, checkpoints)",
        """
    CREATE TABLE memvault_journal (
        kind text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        value text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, key)
    );
    """,
    ),
    # memvault only ever kept migration checkpoints as notes; a note that does
    # not hold a JSON object was not written by memvault and is left alone.
    (
        "store notes become journal records of kind checkpoint",
        """
    INSERT INTO memvault_journal (kind, key, value)
        SELECT 'checkpoint', substr(key, 6), value FROM memvault_meta
        WHERE starts_with(key, 'note:') AND left(value, 1) = '{' AND right(value, 1) = '}'
        ON CONFLICT (kind, key) DO NOTHING;
    DELETE FROM memvault_meta
        WHERE starts_with(key, 'note:') AND left(value, 1) = '{' AND right(value, 1) = '}';
    """,
    ),
    # BM25 needs each memory's length in tokens and, per word, how many memories
    # hold it; the writes keep the counts (``words``). The row of the empty
    # lexeme holds the totals: memories with words, and their tokens.
    (
        "word counts for BM25",
        f"""
    ALTER TABLE memvault_memories ADD COLUMN word_count integer
        GENERATED ALWAYS AS (CASE WHEN parent_id IS NULL THEN cardinality(string_to_array(
            btrim({words_sql(f"left(content, {INDEXED_CHARS})")}), ' ')) END) STORED;
    CREATE TABLE memvault_words (
        lexeme text COLLATE "C" PRIMARY KEY,
        documents bigint NOT NULL,
        tokens bigint NOT NULL
    );
    INSERT INTO memvault_words
        SELECT '', count(*), coalesce(sum(word_count), 0) FROM memvault_memories
        WHERE parent_id IS NULL;
    INSERT INTO memvault_words
        SELECT lexeme, count(*), 0 FROM memvault_memories, unnest(tsvector_to_array(words))
            AS lexeme
        WHERE parent_id IS NULL GROUP BY lexeme;
    """,
    ),
    # A write may leave its vector in fresh_embedding, outside the HNSW index,
    # for the indexer to move into embedding (``indexing``): see FRESH_INDEX.
    (
        "vectors indexed after the write",
        """
    ALTER TABLE memvault_memories ALTER COLUMN embedding DROP NOT NULL;
    ALTER TABLE memvault_memories ADD COLUMN fresh_embedding vector;
    CREATE INDEX memvault_memories_fresh ON memvault_memories (rowid)
        WHERE fresh_embedding IS NOT NULL;
    """,
    ),
    # A write adds its words, tags and metadata keys to the GIN indexes' pending
    # list, which every search through the index reads whole, page by page, until
    # the list outgrows its limit and is merged into the index. At the default
    # limit (4 MB) a store taking writes kept a few hundred pages waiting: a word
    # search over 18 terms at 100,000 memories spent 17.4 ms in the index with
    # 392 pending pages and 3.0 ms with none. 256 kB keeps at most 32 pages, and
    # writes merge in small steps (a batch of 100 still adds its words at once).
    (
        "short pending lists on the GIN indexes",
        """
    ALTER INDEX memvault_memories_words SET (gin_pending_list_limit = 256);
    ALTER INDEX memvault_memories_tags SET (gin_pending_list_limit = 256);
    ALTER INDEX memvault_memories_metadata SET (gin_pending_list_limit = 256);
    """,
    ),
    # Words from every store's tokenizer, written by the writes (``lexemes``)
    # instead of generated from PostgreSQL's parser and stemmer. The rows
    # stored before keep their old words until ``retokenize`` (run when a
    # store opens) rewrites them in batches: this migration itself only
    # changes the catalog and builds one index, whatever the table's size.
    # A top-level row inserted without words comes from a memvault older than
    # this (a rolling upgrade): the trigger marks it for ``retokenize`` too.
    (
        "words from memvault's tokenizer",
        """
    ALTER TABLE memvault_memories ALTER COLUMN words DROP EXPRESSION;
    ALTER TABLE memvault_memories ALTER COLUMN word_count DROP EXPRESSION;
    ALTER TABLE memvault_memories ADD COLUMN words_stale boolean NOT NULL DEFAULT true;
    ALTER TABLE memvault_memories ALTER COLUMN words_stale SET DEFAULT false;
    CREATE INDEX memvault_memories_words_stale ON memvault_memories (rowid) WHERE words_stale;
    CREATE FUNCTION memvault_words_missing() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.words_stale := true; RETURN NEW; END $$;
    CREATE TRIGGER memvault_words_missing BEFORE INSERT ON memvault_memories FOR EACH ROW
        WHEN (NEW.parent_id IS NULL AND NEW.words IS NULL)
        EXECUTE FUNCTION memvault_words_missing();
    """,
    ),
    # A row per (lexeme, memory) with its frequency and the memory's length, kept by
    # triggers, so that a word search sums index entries instead of reading rows
    # (``postings``). Filled here from the rows' words, in the migration's transaction.
    ("word postings for BM25", postings.MIGRATION),
    # Word searches find memories through the postings' key (``words``), so the
    # GIN index of the words is no longer read; dropped, it costs writes nothing.
    # (A memvault from before migration 8 still searching meanwhile reads rows.)
    ("words found through their postings", "DROP INDEX IF EXISTS memvault_memories_words;"),
    # Each connection adds its word counts to its own rows (``words.STRIPES``), so
    # concurrent writes stop waiting for each other's commit on the shared ones.
    ("word counts in stripes", words.STRIPES_MIGRATION),
    # The indexer moves each vector in a transaction of its own, so that a write to
    # a row waits for one graph insert at most (``indexing``).
    (
        "vectors moved into the index one a transaction",
        _move_waiting("embedding = m.fresh_embedding, fresh_embedding = NULL"),
    ),
    # ANALYZE samples which namespace and tags memories hold together, so a vector
    # search can tell a tag rare in one namespace from one rare everywhere
    # (``statistics``): the most common combinations, which the planner does not use
    # (no operator it estimates by them compares tags). Sampled at once, not at
    # autovacuum's next ANALYZE: a store nobody writes to would wait for ever.
    (
        "namespace and tags sampled together",
        """
    CREATE STATISTICS IF NOT EXISTS memvault_memories_namespace_tags (mcv)
        ON namespace, tags FROM memvault_memories;
    ANALYZE memvault_memories;
""",
    ),
    # Every search compares the waiting vectors exactly (``indexing``). A row with a
    # 384-d vector is over 2 kB, where PostgreSQL moves its largest value, the vector
    # (pgvector's storage is EXTERNAL), to the TOAST table: each comparison then read
    # it from there. MAIN keeps the vector in its row unless the row would outgrow a
    # page, and moves the words (or content) out instead: the indexer's procedure
    # writes them anew as it moves the vector (``schema.MOVE_WAITING``). Rows
    # written before this keep their layout until the indexer moves their vectors.
    (
        "waiting vectors kept in their rows",
        "ALTER TABLE memvault_memories ALTER COLUMN fresh_embedding SET STORAGE MAIN;"
        + _move_waiting(MOVE_WAITING),
    ),
]

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS memvault_migrations (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

EXTENSIONS = {"vector": (0, 8, 0), "unaccent": (1, 0)}


def check_server(conn: psycopg.Connection, url: str) -> None:
    """Refuse, with the fix in the message, a database memvault cannot work in."""
    encoding = one_value(conn.execute("SHOW server_encoding"))
    if isinstance(encoding, bytes):  # psycopg cannot decode text of a SQL_ASCII database
        encoding = encoding.decode("ascii", "replace")
    if encoding.upper() != "UTF8":
        raise StoreUnavailable(
            f"database {url} is encoded {encoding}; memvault needs UTF8 "
            "(CREATE DATABASE ... ENCODING 'UTF8')"
        )
    available = {
        name: installed or default
        for name, default, installed in conn.execute(
            "SELECT name, default_version, installed_version FROM pg_available_extensions "
            "WHERE name = ANY(%s)",
            (list(EXTENSIONS),),
        )
    }
    for name, oldest in EXTENSIONS.items():
        if name not in available:
            raise StoreUnavailable(
                f"PostgreSQL at {url} lacks the {name} extension; "
                f"install it on the server (pgvector 0.8+, contrib)"
            )
        version = tuple(int(p) for p in available[name].split(".") if p.isdigit())
        if version < oldest:
            raise StoreUnavailable(
                f"PostgreSQL at {url} has {name} {available[name]}; memvault needs "
                f"{'.'.join(map(str, oldest))} or newer (ALTER EXTENSION {name} UPDATE)"
            )


def migrate(conn: psycopg.Connection, url: str) -> None:
    """Apply pending migrations in one transaction; concurrent callers wait their turn.

    A store with nothing pending is only read, so it opens on a server that
    takes no writes (a standby, default_transaction_read_only): reads work
    there, and health says why writes fail.
    """
    if _current(conn, url):
        return
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            conn.execute(MIGRATIONS_TABLE)
            done = _applied(conn, url)
            for version, (description, sql) in enumerate(MIGRATIONS, start=1):
                if version not in done:
                    conn.execute(sql)
                    conn.execute(
                        "INSERT INTO memvault_migrations (version, description) VALUES (%s, %s)",
                        (version, description),
                    )
            conn.execute(
                "INSERT INTO memvault_meta VALUES ('store_id', %s) ON CONFLICT (key) DO NOTHING",
                (new_id(),),
            )
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreUnavailable(
            f"cannot create memvault's tables in {url}: {exc}. The role needs CREATE on the "
            "database, and an administrator may have to run CREATE EXTENSION vector; "
            "CREATE EXTENSION unaccent; first"
        ) from exc


def _current(conn: psycopg.Connection, url: str) -> bool:
    """Whether every migration is applied and the store has its id, read without writing."""
    tables = "to_regclass('memvault_migrations') IS NOT NULL AND to_regclass('memvault_meta')"
    if not one_value(conn.execute(f"SELECT {tables} IS NOT NULL")):
        return False
    has_id = one_value(conn.execute("SELECT count(*) FROM memvault_meta WHERE key = 'store_id'"))
    return bool(has_id) and len(_applied(conn, url)) == len(MIGRATIONS)


def _applied(conn: psycopg.Connection, url: str) -> set[int]:
    """The schema versions applied, refusing a database newer than this memvault knows."""
    done = {version for (version,) in conn.execute("SELECT version FROM memvault_migrations")}
    if done and max(done) > len(MIGRATIONS):
        raise StoreUnavailable(
            f"database {url} has schema version {max(done)}, newer than this memvault "
            f"knows ({len(MIGRATIONS)}); upgrade memvault"
        )
    return done
