"""Databases made by earlier StepCaches open and upgrade in place, SQLite and PostgreSQL alike."""

from __future__ import annotations

import pathlib
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
from pg_helpers import fresh_schema, insert_legacy, legacy_schema, require_postgres
from store_helpers import insert_v3, legacy_sqlite, make_entry, run_in_threads, unit

from stepcache._types import Route, TokenUsage
from stepcache.store import SQLiteStore
from stepcache.store._migrations import RECORDS
from stepcache.store._sqlite_migrations import LATEST_VERSION, MIGRATIONS
from stepcache.store._vectors import LEGACY_EMBEDDERS

NGRAM, MINILM = LEGACY_EMBEDDERS[512], LEGACY_EMBEDDERS[384]


def _records(conn: sqlite3.Connection) -> list[tuple[int, str, float]]:
    return [
        (int(v), str(n), float(t))
        for v, n, t in conn.execute(f"SELECT version, name, applied_at FROM {RECORDS} ORDER BY version")
    ]


def test_a_version_3_sqlite_database_is_upgraded_in_place(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "cache.db"
    before = time.time()
    conn = legacy_sqlite(db, 3)
    insert_v3(conn, make_entry("ngram", vector=unit([1.0], dim=512)), 10.0)
    insert_v3(conn, make_entry("minilm", vector=unit([1.0], dim=384)), 20.0)
    insert_v3(conn, make_entry("other", vector=unit([1.0], dim=8)), 30.0)
    conn.execute("INSERT INTO counters VALUES ('tenant-a', 'linear', 'reuse', 2, 0, 30)")
    applied = dict(conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall())
    conn.close()

    with SQLiteStore(db) as store:
        assert {e.key: e.embedder for e in store.entries()} == {"ngram": NGRAM, "minilm": MINILM, "other": "legacy-8"}
        for key, dim, name in [("ngram", 512, NGRAM), ("minilm", 384, MINILM), ("other", 8, "legacy-8")]:
            assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0], dim=dim), k=3, embedder=name)] == [
                key
            ]
            assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0], dim=dim), k=3)] == [key]
        assert store.nearest("tenant-a", "m1", unit([1.0], dim=384), k=3, embedder="another-384") == []
        stats = store.stats()
        assert (stats.entries, stats.paths, stats.tokens_saved) == (3, {"reuse": 2}, 30)

    raw = sqlite3.connect(db)
    records = _records(raw)
    raw.close()
    assert [(v, n) for v, n, _ in records] == [(m.version, m.name) for m in MIGRATIONS]
    assert [t for v, _, t in records if v <= 3] == [applied[v] for v in (1, 2, 3)]  # kept as they were
    assert before <= records[-1][2] <= time.time()


def test_an_older_stepcache_still_sees_the_upgraded_version(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "cache.db"
    legacy_sqlite(db, 3).close()
    SQLiteStore(db).close()
    raw = sqlite3.connect(db)
    # What StepCache <= schema 3 ran on opening: it finds a version it does not know, and refuses.
    raw.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    assert raw.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone() == (LATEST_VERSION,)
    raw.close()
    assert LATEST_VERSION > 3


def test_processes_opening_an_old_sqlite_database_together_migrate_it_once(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "cache.db"
    conn = legacy_sqlite(db, 2)
    conn.close()
    barrier = threading.Barrier(4)

    def open_one(_: int) -> None:
        barrier.wait()
        with SQLiteStore(db) as store:
            store.record("tenant-a", "linear", Route.MISS, TokenUsage(1, 1), saved=0)

    assert run_in_threads(open_one, 4) == []
    raw = sqlite3.connect(db)
    assert [v for v, _, _ in _records(raw)] == [m.version for m in MIGRATIONS]
    raw.close()
    with SQLiteStore(db) as store:
        assert store.stats().paths == {"miss": 4}


# -- PostgreSQL ------------------------------------------------------------------------------------

pg = pytest.mark.postgres


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    url = require_postgres()
    with fresh_schema(url) as schema:
        yield url, schema


@pg
def test_a_version_3_postgres_schema_and_its_dimension_indexes_are_upgraded_in_place(
    pg_schema: tuple[str, str],
) -> None:
    import psycopg

    from stepcache.store._pg_migrations import MIGRATIONS as PG_MIGRATIONS
    from stepcache.store._pg_migrations import hnsw_index_name
    from stepcache.store.postgres import PostgresStore

    url, schema = pg_schema
    legacy_schema(url, schema, 3)
    insert_legacy(url, schema, "near", [1.0, 0.0] + [0.0] * 6)
    insert_legacy(url, schema, "far", [0.0, 1.0] + [0.0] * 6)
    insert_legacy(url, schema, "minilm", [1.0] + [0.0] * 383)
    with psycopg.connect(url, autocommit=True) as conn:  # the indexes the previous StepCache made, one per length
        conn.execute(f"SET search_path = {schema}, public")
        for dim in (8, 384):
            conn.execute(
                f"CREATE INDEX entries_hnsw_{dim} ON entries USING hnsw ((embedding::vector({dim})) vector_cosine_ops)"
                f" WHERE dim = {dim}"
            )

    with PostgresStore(url, schema=schema) as store:
        assert {e.key: e.embedder for e in store.entries()} == {"near": "legacy-8", "far": "legacy-8", "minilm": MINILM}
        eight = unit([1.0], dim=8)
        assert [e.key for e, _ in store.nearest("tenant-a", "m1", eight, k=5)] == ["near", "far"]
        assert [e.key for e, _ in store.nearest("tenant-a", "m1", eight, k=5, embedder="legacy-8")] == ["near", "far"]
        assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0], dim=384), k=5, embedder=MINILM)] == [
            "minilm"
        ]
        assert store.nearest("tenant-a", "m1", unit([1.0], dim=384), k=5, embedder="another-384") == []
        assert store.get("near") is not None and store.stats().entries == 3

    with psycopg.connect(url) as conn:
        indexes = dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND indexname LIKE 'entries_hnsw%%'",
                (schema,),
            ).fetchall()
        )
        records = conn.execute(f"SELECT version, name, applied_at FROM {schema}.{RECORDS} ORDER BY version").fetchall()
        kind = conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
            " AND column_name = 'applied_at'",
            (schema, RECORDS),
        ).fetchone()
    assert set(indexes) == {hnsw_index_name("legacy-8", 8), hnsw_index_name(MINILM, 384)}
    assert f"embedder = '{MINILM}'::text" in indexes[hnsw_index_name(MINILM, 384)]
    assert [(v, n) for v, n, _ in records] == [(m.version, m.name) for m in PG_MIGRATIONS]
    assert kind == ("double precision",)
    assert all(time.time() - 3600 < t <= time.time() for _, _, t in records)  # timestamps became Unix seconds


@pg
def test_replicas_opening_an_old_postgres_schema_together_migrate_it_once(pg_schema: tuple[str, str]) -> None:
    import psycopg

    from stepcache.store._pg_migrations import LATEST
    from stepcache.store.postgres import PostgresStore

    url, schema = pg_schema
    legacy_schema(url, schema, 2)
    insert_legacy(url, schema, "old", [1.0, 0.0])
    barrier = threading.Barrier(4)

    def open_one(_: int) -> None:
        barrier.wait()
        PostgresStore(url, schema=schema, min_size=0).close()

    assert run_in_threads(open_one, 4) == []
    with psycopg.connect(url) as conn:
        versions = conn.execute(f"SELECT version FROM {schema}.{RECORDS} ORDER BY version").fetchall()
    assert [v for (v,) in versions] == list(range(1, LATEST + 1))
    with PostgresStore(url, schema=schema) as store:
        assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0], dim=2), k=1)] == ["old"]


def test_both_databases_record_migrations_in_the_same_table() -> None:
    from stepcache.store._migrations import CREATE_RECORDS

    conn = sqlite3.connect(":memory:")
    conn.execute(CREATE_RECORDS)
    assert [r[1] for r in conn.execute(f"PRAGMA table_info({RECORDS})")] == ["version", "name", "applied_at"]
    conn.close()
