"""Where the PostgreSQL tests find their server, and a fresh schema per test.

``STEPCACHE_TEST_POSTGRES_URL`` names the server (``eval "$(scripts/postgres.sh start)"`` sets it).
Without it the tests skip — unless ``CI`` is set, where a missing server is a failure: CI must
never go green by silently skipping the PostgreSQL store.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# Read at import: hermetic autouse fixtures may clear STEPCACHE_* variables before a test runs.
POSTGRES_URL = os.environ.get("STEPCACHE_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_postgres() -> str:
    """The server URL, or skip (outside CI) / fail (in CI) with how to provide one."""
    if POSTGRES_URL:
        return POSTGRES_URL
    how = 'start one with: eval "$(scripts/postgres.sh start)"'
    if IN_CI:
        pytest.fail(f"CI is set but STEPCACHE_TEST_POSTGRES_URL is not: the PostgreSQL tests must run in CI; {how}")
    pytest.skip(f"needs PostgreSQL with pgvector (STEPCACHE_TEST_POSTGRES_URL is unset); {how}")


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A schema name no other test uses, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"t_{uuid.uuid4().hex[:16]}"
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def legacy_schema(url: str, schema: str, version: int) -> None:
    """Create ``schema`` at version ``version`` (1 to 3) as StepCache left it before migrations were
    recorded with names (``schema_migrations (version, applied_at timestamptz)``)."""
    import psycopg

    from stepcache.store._pg_migrations import MIGRATIONS

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
        conn.execute(f"SET search_path = {schema}, public")
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for step in MIGRATIONS[:version]:
            conn.execute(step.sql)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (step.version,))


def insert_legacy(url: str, schema: str, key: str, vector: list[float], created_at: float = 1.0) -> None:
    """An entry row as a schema before version 4 held it (no ``embedder``; ``entry_use`` from 3 on)."""
    import psycopg

    from stepcache._types import FORMAT_VERSION

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET search_path = {schema}, public")
        row = conn.execute(
            "INSERT INTO entries (key, namespace, model, family, signature, prompt, task, steps, text, prepared,"
            " format_version, created_at, dim, embedding)"
            " VALUES (%s, 'tenant-a', 'm1', 'linear', 'sig', 'p', '{}', ARRAY['x = 5'], 'x = 5', '{}', %s, %s, %s,"
            " %s::vector) RETURNING id",
            (key, FORMAT_VERSION, created_at, len(vector), str(list(vector)).replace(" ", "")),
        ).fetchone()
        assert row is not None
        has_use = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.entry_use",)).fetchone()
        if has_use and has_use[0]:
            conn.execute(
                "INSERT INTO entry_use (id, last_used, size) VALUES (%s, %s, %s)", (row[0], created_at, 4 * len(vector))
            )
