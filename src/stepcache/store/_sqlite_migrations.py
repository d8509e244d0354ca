"""The SQLite store's schema: its numbered migrations (run by ``_migrations.migrate``) and the
:class:`~stepcache.store._migrations.Database` they run on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ._migrations import Migration

__all__ = ["MIGRATIONS", "LATEST_VERSION", "SQLiteDatabase"]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "entries and counters",
        """
        CREATE TABLE entries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            namespace TEXT NOT NULL,
            model TEXT NOT NULL,
            family TEXT NOT NULL,
            signature TEXT NOT NULL,
            prompt TEXT NOT NULL,
            task TEXT NOT NULL,
            steps TEXT NOT NULL,
            text TEXT NOT NULL,
            embedding BLOB NOT NULL,
            prepared TEXT NOT NULL,
            format_version INTEGER NOT NULL,
            created_at REAL NOT NULL,
            cost_prompt_tokens INTEGER NOT NULL DEFAULT 0,
            cost_completion_tokens INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX entries_scope_signature ON entries (namespace, model, family, signature);
        CREATE TABLE counters (
            namespace TEXT NOT NULL,
            family TEXT NOT NULL,
            path TEXT NOT NULL,
            requests INTEGER NOT NULL DEFAULT 0,
            tokens_spent INTEGER NOT NULL DEFAULT 0,
            tokens_saved INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (namespace, family, path)
        );
        """,
    ),
    Migration(
        2,
        "audits and quarantine",
        # Audit sampling: entries an audit found wrong are quarantined (kept, never served; their key
        # is moved aside so a fresh answer can be stored), and audit outcomes are counted apart from
        # the served-path counters, with the upstream tokens the audits cost.
        """
        ALTER TABLE entries ADD COLUMN quarantined_at REAL;
        ALTER TABLE entries ADD COLUMN quarantine_reason TEXT;
        CREATE TABLE audits (
            namespace TEXT NOT NULL,
            family TEXT NOT NULL,
            outcome TEXT NOT NULL,
            audits INTEGER NOT NULL DEFAULT 0,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (namespace, family, outcome)
        );
        """,
    ),
    Migration(
        3,
        "expiry, last use and deletions",
        # Cache lifecycle: an expiry per entry (never served after it), the last time an entry was
        # written or served and its payload size, for the size cap's least-recently-used eviction
        # (rows that predate it count as last used when they were stored), and why entries were
        # deleted (evicted for space, expired, purged), counted per namespace and family.
        """
        ALTER TABLE entries ADD COLUMN expires_at REAL;
        ALTER TABLE entries ADD COLUMN last_used REAL NOT NULL DEFAULT 0;
        ALTER TABLE entries ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
        UPDATE entries SET last_used = created_at, size = length(CAST(prompt AS BLOB)) + length(CAST(task AS BLOB))
            + length(CAST(steps AS BLOB)) + length(CAST(text AS BLOB)) + length(CAST(prepared AS BLOB))
            + length(embedding);
        CREATE INDEX entries_by_last_use ON entries (last_used, id, size);
        CREATE INDEX entries_by_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE deletions (
            namespace TEXT NOT NULL,
            family TEXT NOT NULL,
            reason TEXT NOT NULL,
            entries INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (namespace, family, reason)
        );
        """,
    ),
    Migration(
        4,
        "the embedder of each vector",
        # A vector is compared only with vectors of its own embedder. Rows stored before are given the
        # name of the built-in embedder that made vectors of their length (_vectors.LEGACY_EMBEDDERS;
        # the names are written here, never to change), legacy-<length> for any other length.
        """
        ALTER TABLE entries ADD COLUMN embedder TEXT NOT NULL DEFAULT '';
        UPDATE entries SET embedder = CASE length(embedding) / 4
            WHEN 512 THEN 'hashed-ngram-v1-d512-n3-5'
            WHEN 384 THEN 'all-minilm-l6-v2-int8'
            ELSE 'legacy-' || (length(embedding) / 4) END;
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


class SQLiteDatabase:
    """A connection in autocommit mode, for ``_migrations.migrate``."""

    mark = "?"

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self.conn = conn
        self.where = where

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def script(self, sql: str) -> None:
        # Statement by statement: executescript would commit our transaction.
        for statement in _statements(sql):
            self.conn.execute(statement)

    def record_columns(self) -> set[str]:
        return {row[1] for row in self.conn.execute("PRAGMA table_info(schema_migrations)")}

    def upgrade_records(self) -> None:
        self.conn.execute("ALTER TABLE schema_migrations ADD COLUMN name text NOT NULL DEFAULT ''")

    def elsewhere(self) -> str:
        return "use another store file"


def _statements(sql: str) -> list[str]:
    """Split a script into statements."""
    statements: list[str] = []
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \n\t;"):
        statements.append(pending.strip())
    return statements
