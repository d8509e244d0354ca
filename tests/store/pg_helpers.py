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
