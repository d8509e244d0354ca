"""Vectors are compared only with vectors of the same embedder, on every store; entries say whose they are."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Iterator

import pytest
from pg_helpers import fresh_schema, require_postgres
from store_helpers import make_entry, unit

from stepcache._types import Entry
from stepcache.store import MemoryStore, SQLiteStore, Store
from stepcache.store._vectors import LEGACY_EMBEDDERS, legacy_embedder


def _memory(tmp: pathlib.Path) -> Iterator[Store]:
    yield MemoryStore()


def _sqlite(tmp: pathlib.Path) -> Iterator[Store]:
    yield SQLiteStore(tmp / "cache.db")


def _sqlite_hnsw(tmp: pathlib.Path) -> Iterator[Store]:
    yield SQLiteStore(tmp / "cache.db", index_threshold=2)


def _postgres(tmp: pathlib.Path) -> Iterator[Store]:
    from stepcache.store.postgres import PostgresStore

    url = require_postgres()
    with fresh_schema(url) as schema:
        yield PostgresStore(url, schema=schema)


@pytest.fixture(
    params=[
        pytest.param(_memory, id="memory"),
        pytest.param(_sqlite, id="sqlite"),
        pytest.param(_sqlite_hnsw, id="sqlite-hnsw"),
        pytest.param(_postgres, id="postgres", marks=pytest.mark.postgres),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Store]:
    opener: Callable[[pathlib.Path], Iterator[Store]] = request.param
    opened = opener(tmp_path)
    the_store = next(opened)
    try:
        yield the_store
    finally:
        the_store.close()
        next(opened, None)


def named(key: str, embedder: str, values: list[float], dim: int = 8) -> Entry:
    return dataclasses.replace(make_entry(key, vector=unit(values, dim=dim)), embedder=embedder)


def test_a_search_never_returns_another_embedders_vectors_of_the_same_length(store: Store) -> None:
    store.put(named("a1", "model-a", [1.0, 0.1]))
    store.put(named("a2", "model-a", [1.0, 0.5]))
    store.put(named("b1", "model-b", [1.0, 0.0]))  # the closest, but another model's
    query = unit([1.0])
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", query, k=5, embedder="model-a")] == ["a1", "a2"]
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", query, k=5, embedder="model-b")] == ["b1"]
    assert store.nearest("tenant-a", "m1", query, k=5, embedder="model-c") == []
    assert store.nearest("tenant-a", "m1", query, k=5) == []  # unnamed: legacy-8, which nobody stored
    found = store.nearest("tenant-a", "m1", query, k=5, family="linear", embedder="model-b")
    assert [(e.key, e.embedder) for e, _ in found] == [("b1", "model-b")]


def test_entries_say_which_embedder_made_them(store: Store) -> None:
    stored = store.put(named("a", "model-a", [1.0]))
    assert stored.embedder == "model-a"
    got = store.get("a")
    assert got is not None and got.embedder == "model-a"
    unnamed = store.put(make_entry("u", vector=unit([1.0], dim=16)))
    assert unnamed.embedder == legacy_embedder(16) == "legacy-16"
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0], dim=16), k=5)] == ["u"]
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0], dim=16), k=5, embedder="legacy-16")] == ["u"]


def test_an_unnamed_vector_of_a_built_in_length_is_the_built_in_embedders(store: Store) -> None:
    # What StepCache stored before vectors carried a name: the default n-gram embedder's 512 floats.
    old = store.put(make_entry("old", vector=unit([1.0], dim=512)))
    assert old.embedder == LEGACY_EMBEDDERS[512]
    found = store.nearest("tenant-a", "m1", unit([1.0], dim=512), k=1, embedder=LEGACY_EMBEDDERS[512])
    assert [e.key for e, _ in found] == ["old"]


def test_the_legacy_names_are_the_built_in_embedders_names() -> None:
    from stepcache.retrieve import HashedNgramEmbedder, MiniLMEmbedder

    assert {512: HashedNgramEmbedder().name, 384: MiniLMEmbedder.name} == LEGACY_EMBEDDERS
    assert HashedNgramEmbedder().dim == 512 and MiniLMEmbedder.dim == 384


def test_the_migrations_name_old_vectors_as_legacy_embedder_does() -> None:
    from stepcache.store._pg_migrations import MIGRATIONS as PG
    from stepcache.store._sqlite_migrations import MIGRATIONS as SQLITE

    for migrations in (SQLITE, PG):
        (step,) = [m for m in migrations if m.name == "the embedder of each vector"]
        for dim, name in LEGACY_EMBEDDERS.items():
            assert f"WHEN {dim} THEN '{name}'" in step.sql
        assert "'legacy-' ||" in step.sql
