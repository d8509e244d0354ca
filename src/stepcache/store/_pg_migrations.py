"""The PostgreSQL store's schema: its numbered migrations (run by ``_migrations.migrate``), the
:class:`~stepcache.store._migrations.Database` they run on, and its vector indexes.

Each step takes a transaction-level advisory lock first, so replicas starting together queue up
instead of racing (the same lock key as before the scheme was shared, so an older StepCache queues
too).

Vectors: ``entries.embedding`` is an untyped ``vector`` column plus ``dim`` and ``embedder`` columns,
because the embedders, and their lengths, are only known as entries arrive. Each embedder gets its
own partial expression HNSW index, created the first time one of its vectors is stored
(``PostgresStore._ensure_index``)::

    CREATE INDEX entries_hnsw_<md5(embedder)[:12]>_384 ON entries
        USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE embedder = '...' AND dim = 384

and a search orders by ``embedding::vector(384) <=> $1`` with ``WHERE embedder = '...' AND dim = 384``
(literals, so the planner can prove the partial index applies). Vectors of another embedder are
never compared, whatever their length.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ._migrations import Migration
from ._vectors import legacy_embedder

if TYPE_CHECKING:
    import psycopg
    import psycopg.sql

__all__ = ["MIGRATIONS", "LATEST", "PostgresDatabase", "lock_key", "hnsw_index_name", "hnsw_index_statement"]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "entries and counters",
        """
        CREATE TABLE entries (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            key             text NOT NULL UNIQUE,
            namespace       text NOT NULL,
            model           text NOT NULL,
            family          text NOT NULL,
            signature       text NOT NULL,
            prompt          text NOT NULL,
            task            json NOT NULL,
            steps           text[] NOT NULL,
            text            text NOT NULL,
            prepared        json NOT NULL,
            format_version  integer NOT NULL,
            created_at      double precision NOT NULL,
            cost_prompt     integer NOT NULL DEFAULT 0,
            cost_completion integer NOT NULL DEFAULT 0,
            dim             integer NOT NULL,
            embedding       vector NOT NULL
        );
        CREATE INDEX entries_by_signature ON entries (namespace, model, family, signature, created_at DESC);
        CREATE INDEX entries_by_scope ON entries (namespace, model, dim);
        CREATE TABLE counters (
            namespace    text NOT NULL,
            family       text NOT NULL,
            path         text NOT NULL,
            requests     bigint NOT NULL DEFAULT 0,
            tokens_spent bigint NOT NULL DEFAULT 0,
            tokens_saved bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (namespace, family, path)
        );
        """,
    ),
    # Audit sampling. Entries an audit found wrong are quarantined (kept, never served; their key is
    # moved aside so a fresh answer can be stored); audit outcomes and their upstream tokens are
    # counted apart from the served-path counters.
    Migration(
        2,
        "audits and quarantine",
        """
        ALTER TABLE entries ADD COLUMN quarantined_at double precision;
        ALTER TABLE entries ADD COLUMN quarantine_reason text;
        CREATE TABLE audits (
            namespace         text NOT NULL,
            family            text NOT NULL,
            outcome           text NOT NULL,
            audits            bigint NOT NULL DEFAULT 0,
            prompt_tokens     bigint NOT NULL DEFAULT 0,
            completion_tokens bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (namespace, family, outcome)
        );
        """,
    ),
    # Cache lifecycle. An expiry per entry (never served after it); the last time an entry was
    # written or served, and its payload size, for the size cap's least-recently-used eviction; and
    # why entries were deleted (evicted for space, expired, purged), per namespace and family.
    # last_used lives in a narrow side table, not in `entries`: an UPDATE that changes an indexed
    # column of `entries` is not HOT, so PostgreSQL would copy the whole row and re-insert it into
    # every HNSW index (measured: 2000 last-use updates took 4.0 s on a 20k-entry `entries`, 0.04 s
    # here). Rows that predate it count as last used when they were stored.
    Migration(
        3,
        "expiry, last use and deletions",
        """
        ALTER TABLE entries ADD COLUMN expires_at double precision;
        CREATE INDEX entries_by_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE entry_use (
            id        bigint PRIMARY KEY REFERENCES entries (id) ON DELETE CASCADE,
            last_used double precision NOT NULL,
            size      bigint NOT NULL
        );
        INSERT INTO entry_use (id, last_used, size)
            SELECT id, created_at, octet_length(prompt) + octet_length(task::text) + octet_length(array_to_json(steps)::text)
                + octet_length(text) + octet_length(prepared::text) + 4 * dim
            FROM entries;
        CREATE INDEX entry_use_by_last_use ON entry_use (last_used, id) INCLUDE (size);
        CREATE TABLE deletions (
            namespace text NOT NULL,
            family    text NOT NULL,
            reason    text NOT NULL,
            entries   bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (namespace, family, reason)
        );
        """,
    ),
    Migration(
        4,
        "the embedder of each vector",
        # A vector is compared only with vectors of its own embedder. Rows stored before are given the
        # name of the built-in embedder that made vectors of their length (_vectors.LEGACY_EMBEDDERS;
        # written out here, never to change), legacy-<length> for any other length. The HNSW indexes
        # were one per length: each is rebuilt as the index of the one embedder its rows now have
        # (dropped before the UPDATE, which then need not maintain it). That is one index build per
        # length in use, under the migration lock: other replicas wait for it once.
        """
        ALTER TABLE entries ADD COLUMN embedder text;
        DO $$
        DECLARE
            dims integer[];
            d integer;
            e text;
        BEGIN
            SELECT coalesce(array_agg(substring(indexname FROM '^entries_hnsw_([0-9]+)$')::integer), '{}') INTO dims
                FROM pg_indexes
                WHERE schemaname = current_schema() AND tablename = 'entries' AND indexname ~ '^entries_hnsw_[0-9]+$';
            FOREACH d IN ARRAY dims LOOP
                EXECUTE format('DROP INDEX %I', 'entries_hnsw_' || d);
            END LOOP;
            UPDATE entries SET embedder = CASE dim
                WHEN 512 THEN 'hashed-ngram-v1-d512-n3-5' WHEN 384 THEN 'all-minilm-l6-v2-int8' ELSE 'legacy-' || dim END;
            FOREACH d IN ARRAY dims LOOP
                e := CASE d WHEN 512 THEN 'hashed-ngram-v1-d512-n3-5' WHEN 384 THEN 'all-minilm-l6-v2-int8' ELSE 'legacy-' || d END;
                EXECUTE format(
                    'CREATE INDEX %I ON entries USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WHERE embedder = %L AND dim = %s',
                    'entries_hnsw_' || left(md5(e), 12) || '_' || d, d, e, d
                );
            END LOOP;
        END $$;
        ALTER TABLE entries ALTER COLUMN embedder SET NOT NULL;
        DROP INDEX entries_by_scope;
        CREATE INDEX entries_by_scope ON entries (namespace, model, embedder, dim);
        """,
    ),
)

#: The schema version this StepCache writes.
LATEST = MIGRATIONS[-1].version

#: pgvector cannot index ``vector`` columns wider than this; wider embeddings are searched exactly.
HNSW_MAX_DIM = 2000


def lock_key(schema: str, purpose: str) -> int:
    """A stable advisory-lock key (signed 64-bit) for ``purpose`` in ``schema``."""
    return zlib.crc32(f"stepcache:{schema}:{purpose}".encode()) - 2**31


def hnsw_index_name(embedder: str, dim: int) -> str:
    """The HNSW index of ``embedder``'s vectors (of length ``dim``); migration 4 names them alike."""
    return f"entries_hnsw_{hashlib.md5(embedder.encode()).hexdigest()[:12]}_{int(dim)}"


def hnsw_index_statement(dim: int, embedder: str | None = None) -> psycopg.sql.Composed:
    """``CREATE INDEX IF NOT EXISTS`` of the cosine HNSW index for ``embedder``'s vectors of length
    ``dim`` (``None``: the name unnamed vectors of that length get)."""
    from psycopg import sql

    name = embedder or legacy_embedder(dim)
    return sql.SQL(
        "CREATE INDEX IF NOT EXISTS {index} ON entries USING hnsw ((embedding::vector({dim})) vector_cosine_ops)"
        " WHERE embedder = {name} AND dim = {dim}"
    ).format(index=sql.Identifier(hnsw_index_name(name, dim)), dim=sql.SQL(str(int(dim))), name=sql.Literal(name))


class PostgresDatabase:
    """A connection in autocommit mode whose search path starts with ``schema``, for
    ``_migrations.migrate``."""

    mark = "%s"

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self.conn = conn
        self.schema = schema
        self.where = f"the PostgreSQL store (schema {schema!r})"

    @contextmanager
    def locked(self) -> Iterator[None]:
        from psycopg import sql

        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, "migrate"),))
            self.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            # In public, not in our schema: every store's search_path is "<schema>, public", so
            # stores in other schemas of the same database see the one `vector` type too.
            self.conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            yield

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def script(self, sql: str) -> None:
        self.conn.execute(sql)  # without parameters: several statements may run at once

    def record_columns(self) -> set[str]:
        rows = self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = 'schema_migrations'",
            (self.schema,),
        ).fetchall()
        return {str(name) for (name,) in rows}

    def upgrade_records(self) -> None:
        self.conn.execute(
            "ALTER TABLE schema_migrations ADD COLUMN name text NOT NULL DEFAULT '',"
            " ALTER COLUMN applied_at DROP DEFAULT,"
            " ALTER COLUMN applied_at TYPE double precision USING extract(epoch FROM applied_at)"
        )

    def elsewhere(self) -> str:
        return "point --store at another database or schema"
