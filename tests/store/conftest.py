"""The ``store`` fixture runs the contract suite against every store.

To add a store (PostgreSQL), add one ``pytest.param`` to ``STORE_PARAMS``.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest

from stepcache.store import MemoryStore, SQLiteStore, Store

StoreFactory = Callable[[pathlib.Path], Store]

STORE_PARAMS = [
    pytest.param(lambda tmp: MemoryStore(), id="memory"),
    pytest.param(lambda tmp: SQLiteStore(tmp / "cache.db"), id="sqlite"),
    # A small threshold puts the faiss HNSW path under the same contract.
    pytest.param(lambda tmp: SQLiteStore(tmp / "cache.db", index_threshold=8), id="sqlite-hnsw"),
]


@pytest.fixture(params=STORE_PARAMS)
def store_factory(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> StoreFactory:
    factory: StoreFactory = request.param
    return factory


@pytest.fixture
def store(store_factory: StoreFactory, tmp_path: pathlib.Path) -> Iterator[Store]:
    opened = store_factory(tmp_path)
    yield opened
    opened.close()
