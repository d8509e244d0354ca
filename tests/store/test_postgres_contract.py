"""The shared Store contract (test_store_contract.py), run against PostgreSQL.

Every test of the contract module is imported here and gets a PostgreSQL ``store`` instead of the
memory/SQLite ones; each test runs in a schema of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_helpers import fresh_schema, require_postgres
from test_store_contract import *  # noqa: F403 - the contract's tests, collected again for PostgreSQL

from stepcache.store import Store

pytestmark = pytest.mark.postgres


@pytest.fixture
def store() -> Iterator[Store]:
    from stepcache.store.postgres import PostgresStore

    url = require_postgres()
    with fresh_schema(url) as schema:
        opened = PostgresStore(url, schema=schema)
        try:
            yield opened
        finally:
            opened.close()
