"""Fixtures for the fleet tests: the fake upstream in-process, two ``stepcache serve`` replicas on one
PostgreSQL schema (fresh per test), always killed on teardown.

The fake upstream and the PostgreSQL helpers are the proxy's and the store's own (tests/server,
tests/store); tests/ has no packages, so their directories go on ``sys.path`` here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent.parent
for _helpers in (_TESTS / "server", _TESTS / "store"):
    if str(_helpers) not in sys.path:
        sys.path.append(str(_helpers))

from fleet_harness import Fleet, Replica, with_query  # noqa: E402
from pg_helpers import IN_CI, fresh_schema, require_postgres  # noqa: E402
from proxy_harness import FakeUpstream, served_upstream  # noqa: E402

# In CI the [postgres] extra must be installed: a missing psycopg fails there instead of skipping.
if not IN_CI:
    pytest.importorskip("psycopg")


@pytest.fixture(scope="session")
def fleet_upstream() -> Iterator[FakeUpstream]:
    with served_upstream() as fake:
        yield fake


@pytest.fixture
def fleet(fleet_upstream: FakeUpstream, tmp_path: Path) -> Iterator[Fleet]:
    """Two replicas on a fresh schema; both start at once, so they also race the schema migration."""
    pg_url = require_postgres()
    fleet_upstream.reset()
    with fresh_schema(pg_url) as schema:
        store_url = with_query(pg_url, schema=schema, max_size=4)
        replicas: list[Replica] = []
        try:
            for name in ("a", "b"):
                replicas.append(Replica(name, upstream=fleet_upstream.url, store=store_url, log_dir=tmp_path))
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(Replica.wait_healthy, replicas))
            yield Fleet(fleet_upstream, pg_url, schema, store_url, *replicas)
        finally:
            # Kill, not stop: teardown must not hang on a wedged replica, and the schema is dropped next.
            for replica in replicas:
                replica.kill()
