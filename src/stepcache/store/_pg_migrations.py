"""Numbered schema migrations of the PostgreSQL store.

Same scheme as the SQLite store: ``MIGRATIONS[i]`` takes the schema from version ``i`` to ``i + 1``;
the versions applied are recorded in ``schema_migrations``. Each version is applied in its own
transaction that first takes a transaction-level advisory lock, so replicas starting together
queue up instead of racing, and each re-reads the version after getting the lock. A database
migrated by a newer StepCache is refused (:class:`StoreVersionError`) rather than misread.

Vector dimension: ``entries.embedding`` is an untyped ``vector`` column plus a ``dim`` column,
because the embedder's dimension is only known at the first ``put`` and may change when the
operator switches embedders. Each dimension gets its own partial expression HNSW index, created
on first use (see ``PostgresStore._ensure_index``)::

    CREATE INDEX entries_hnsw_384 ON entries
        USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dim = 384

and queries order by ``embedding::vector(384) <=> $1`` with ``WHERE dim = 384`` so the planner
can use it. Vectors of another dimension are simply never compared (no error), as in the
in-memory stores.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from .._exceptions import StoreVersionError

if TYPE_CHECKING:
    import psycopg

__all__ = ["MIGRATIONS", "LATEST", "migrate", "lock_key"]

MIGRATIONS: tuple[str, ...] = (
    # 1: entries, counters
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
    # 2: audit sampling. Entries an audit found wrong are quarantined (kept, never served; their key is
    # moved aside so a fresh answer can be stored); audit outcomes and their upstream tokens are
    # counted apart from the served-path counters.
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
    # 3: cache lifecycle. An expiry per entry (never served after it); the last time an entry was
    # written or served, and its payload size, for the size cap's least-recently-used eviction; and
    # why entries were deleted (evicted for space, expired, purged), per namespace and family.
    # last_used lives in a narrow side table, not in `entries`: an UPDATE that changes an indexed
    # column of `entries` is not HOT, so PostgreSQL would copy the whole row and re-insert it into
    # every HNSW index (measured: 2000 last-use updates took 4.0 s on a 20k-entry `entries`, 0.04 s
    # here). Rows that predate it count as last used when they were stored.
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
)

#: The schema version this StepCache writes.
LATEST = len(MIGRATIONS)


def lock_key(schema: str, purpose: str) -> int:
    """A stable advisory-lock key (signed 64-bit) for ``purpose`` in ``schema``."""
    return zlib.crc32(f"stepcache:{schema}:{purpose}".encode()) - 2**31


def migrate(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> int:
    """Bring ``schema`` up to :data:`LATEST`; returns the version found before migrating.

    ``conn`` must be in autocommit mode; each version is its own transaction.
    """
    from psycopg import sql

    found: int | None = None
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(schema, "migrate"),))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            # In public, not in our schema: every store's search_path is "<schema>, public", so
            # stores in other schemas of the same database see the one `vector` type too.
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
            current = int(row[0]) if row else 0  # type: ignore[call-overload]
            if found is None:
                found = current
            if current > LATEST:
                raise StoreVersionError(
                    f"the PostgreSQL store (schema {schema!r}) is at version {current}, but this StepCache "
                    f"only knows versions up to {LATEST}: upgrade stepcache, or point --store at another "
                    "database or schema"
                )
            if current == LATEST:
                return found
            conn.execute(MIGRATIONS[current])
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (current + 1,))
