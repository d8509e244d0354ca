"""Numbered schema migrations for the SQLite store.

Each migration is ``(version, SQL)`` and runs in its own transaction together with the row that
records it in ``schema_migrations``, so a crash leaves the database at the previous version, never
half-way. Append new migrations; never edit one that has shipped. A database whose recorded version
is higher than the last one here was written by a newer StepCache and is refused rather than
misread.
"""

from __future__ import annotations

import sqlite3
import time

from .._exceptions import StoreVersionError

__all__ = ["MIGRATIONS", "LATEST_VERSION", "migrate", "schema_version"]

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
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
    (
        2,
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
    (
        3,
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
]

LATEST_VERSION = MIGRATIONS[-1][0]


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def migrate(
    conn: sqlite3.Connection,
    where: str,
    migrations: list[tuple[int, str]] = MIGRATIONS,
) -> int:
    """Bring the database on ``conn`` (in autocommit mode) up to date; return its version.

    ``where`` names the database in error messages. Safe to run from several processes at once:
    each migration re-checks the version after taking the write lock.
    """
    latest = migrations[-1][0] if migrations else 0
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    current = schema_version(conn)
    if current > latest:
        raise StoreVersionError(
            f"{where} has schema version {current}, but this StepCache only knows versions up to {latest}: "
            "it was written by a newer StepCache. Upgrade StepCache (pip install -U stepcache), "
            "or use another store file."
        )
    for version, sql in migrations:
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) < version:  # another process may have just applied it
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current = version
    return current


def _statements(sql: str) -> list[str]:
    """Split a script into statements (``executescript`` would commit our transaction)."""
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
