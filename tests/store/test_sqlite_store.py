"""What only the SQLite store promises: persistence, sharing a file, migrations, damaged files."""

from __future__ import annotations

import os
import pathlib
import sqlite3
import threading

import pytest
from store_helpers import insert_v1, legacy_sqlite, make_entry, run_in_threads, unit

from stepcache._exceptions import StoreError, StoreVersionError
from stepcache._types import AuditOutcome, Route, Scope, TokenUsage
from stepcache.store import SQLiteStore
from stepcache.store._migrations import Migration, migrate
from stepcache.store._sqlite_migrations import LATEST_VERSION, MIGRATIONS, SQLiteDatabase


def test_entries_and_counters_survive_close_and_reopen(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db) as first:
        stored = first.put(make_entry("k1", vector=unit([1.0])))
        first.put(make_entry("k2", vector=unit([0.0, 1.0])))
        first.record("tenant-a", "linear", Route.REUSE, TokenUsage(), saved=9)  # buffered until close
    with SQLiteStore(db) as second:
        got = second.get("k1")
        assert got is not None and got.id == stored.id and got.task == stored.task
        assert [e.key for e, _ in second.nearest("tenant-a", "m1", unit([1.0]), k=1)] == ["k1"]
        stats = second.stats()
        assert (stats.entries, stats.paths, stats.tokens_saved) == (2, {"reuse": 1}, 9)


def test_two_stores_on_one_file_see_each_others_entries(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db) as a, SQLiteStore(db) as b:
        a.put(make_entry("from-a", vector=unit([1.0, 0.5])))
        assert b.get("from-a") is not None
        # b builds its index now, then must pick up what a writes afterwards.
        assert [e.key for e, _ in b.nearest("tenant-a", "m1", unit([1.0]), k=5)] == ["from-a"]
        a.put(make_entry("later-from-a", vector=unit([1.0])))
        assert [e.key for e, _ in b.nearest("tenant-a", "m1", unit([1.0]), k=5)] == ["later-from-a", "from-a"]
        # Interleaved writers: b's own put follows a row it has not seen yet.
        a.put(make_entry("a-again", vector=unit([1.0, 2.0])))
        b.put(make_entry("from-b", vector=unit([1.0, 0.2])))
        keys = [e.key for e, _ in b.nearest("tenant-a", "m1", unit([1.0]), k=10)]
        assert sorted(keys) == ["a-again", "from-a", "from-b", "later-from-a"]
        assert len(a.nearest("tenant-a", "m1", unit([1.0]), k=10)) == 4
        assert a.put(make_entry("from-b", text="a's version")).text == "x = 5"
        assert [e.key for e in b.by_signature(Scope("tenant-a", "m1", "linear"), "sig", limit=10)].count("from-b") == 1


def test_concurrent_puts_of_one_key_from_two_stores(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    stores = [SQLiteStore(db), SQLiteStore(db)]
    barrier = threading.Barrier(6)
    ids: list[str] = []

    def put(i: int) -> None:
        barrier.wait()
        ids.append(stores[i % 2].put(make_entry("same", text=f"w{i}")).id)

    assert run_in_threads(put, 6) == []
    assert len(ids) == 6 and len(set(ids)) == 1
    assert stores[0].stats().entries == 1
    for s in stores:
        s.close()


def test_counters_are_flushed_after_flush_every_records(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db, flush_every=3, flush_interval=3600) as writer, SQLiteStore(db) as reader:
        for _ in range(2):
            writer.record("ns", "linear", Route.MISS, TokenUsage(1, 1), saved=0)
        assert reader.stats().paths == {}
        writer.record("ns", "linear", Route.MISS, TokenUsage(1, 1), saved=0)
        assert reader.stats().paths == {"miss": 3}
        assert reader.stats().tokens_spent == 6


def test_counters_are_flushed_after_flush_interval(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db, flush_every=1000, flush_interval=0.0) as writer, SQLiteStore(db) as reader:
        writer.record("ns", "json", Route.SKIP, TokenUsage(2, 3), saved=0)
        assert reader.stats().paths == {"skip": 1}


def test_in_memory_database_works_across_threads() -> None:
    store = SQLiteStore(":memory:")

    def put(i: int) -> None:
        store.put(make_entry(f"k{i}", vector=unit([1.0, float(i)])))

    assert run_in_threads(put, 5) == []
    assert store.stats().entries == 5
    assert store.nearest("tenant-a", "m1", unit([1.0]), k=1)[0][0].key == "k0"
    store.close()


def test_closed_store_says_so(tmp_path: pathlib.Route) -> None:
    store = SQLiteStore(tmp_path / "cache.db")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.get("k")


def test_damaged_file_names_the_file_and_the_fix(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    db.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(StoreError) as info:
        SQLiteStore(db)
    message = str(info.value)
    assert str(db) in message
    assert "move it aside" in message
    assert isinstance(info.value.__cause__, sqlite3.Error)


def test_a_failed_put_keeps_what_was_stored(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db) as store:
        store.put(make_entry("kept"))
        # A trigger makes the next insert fail inside the transaction, after the row was written.
        raw = sqlite3.connect(db)
        raw.execute(
            "CREATE TRIGGER boom AFTER INSERT ON entries WHEN NEW.key = 'doomed' "
            "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
        raw.commit()
        raw.close()
        with pytest.raises(StoreError, match="disk on fire"):
            store.put(make_entry("doomed"))
        assert store.get("kept") is not None
        assert store.get("doomed") is None
        store.put(make_entry("after"))  # the connection is usable again
        assert store.stats().entries == 2


def _versions(db: pathlib.Route) -> list[tuple[int, float]]:
    conn = sqlite3.connect(db)
    try:
        return [(int(v), float(t)) for v, t in conn.execute("SELECT version, applied_at FROM schema_migrations")]
    finally:
        conn.close()


def test_fresh_database_is_migrated_once(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    SQLiteStore(db).close()
    first = _versions(db)
    assert [v for v, _ in first] == [step.version for step in MIGRATIONS]
    assert first[-1][0] == LATEST_VERSION
    SQLiteStore(db).close()
    assert _versions(db) == first  # nothing re-applied on reopen
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "entries_scope_signature" in indexes
    conn.close()


def test_database_from_a_newer_stepcache_is_refused(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    SQLiteStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'later', 0)", (LATEST_VERSION + 1,)
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreVersionError, match="Upgrade StepCache") as info:
        SQLiteStore(db)
    assert str(db) in str(info.value)


def test_pending_migrations_apply_in_order_and_a_failing_one_rolls_back(tmp_path: pathlib.Route) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    db = SQLiteDatabase(conn, "test db")
    steps = [
        Migration(1, "a", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"),
        Migration(2, "b and c", "CREATE TABLE b (y TEXT); CREATE TABLE c (z TEXT); INSERT INTO nowhere VALUES (1);"),
    ]
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, steps)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "a" in tables and "b" not in tables and "c" not in tables
    assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == [1]
    fixed = [steps[0], Migration(2, "b and c", "CREATE TABLE b (y TEXT); CREATE TABLE c (z TEXT);")]
    assert migrate(db, fixed) == 2
    assert conn.execute("SELECT x FROM a").fetchall() == [(1,)]  # migration 1 was not run twice
    conn.close()


@pytest.mark.parametrize("slashes", ["///", "////"])
def test_from_url_opens_an_absolute_path(slashes: str, tmp_path: pathlib.Route) -> None:
    db = tmp_path / "sub" / "cache.db"  # the folder is created
    store = SQLiteStore.from_url(f"sqlite:{slashes}{str(db).lstrip('/')}")
    assert store.path == str(db)
    store.put(make_entry("k"))
    store.close()
    assert db.exists()


def test_from_url_memory() -> None:
    store = SQLiteStore.from_url("sqlite:///:memory:")
    assert store.path == ":memory:"
    store.put(make_entry("k"))
    assert store.get("k") is not None
    store.close()


def test_from_url_rejects_relative_paths() -> None:
    from stepcache._exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="absolute"):
        SQLiteStore.from_url("sqlite://cache.db")


def test_quarantine_and_audit_counts_survive_reopening(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db) as first:
        bad = first.put(make_entry("bad", vector=unit([1.0])))
        first.put(make_entry("good", vector=unit([1.0, 0.1])))
        assert first.quarantine(bad.id, "audit disagreed")
        first.record_audit("tenant-a", "linear", AuditOutcome.DISAGREE, TokenUsage(3, 4))
    with SQLiteStore(db) as second:
        assert second.get("bad") is None
        assert [e.key for e, _ in second.nearest("tenant-a", "m1", unit([1.0]), k=5)] == ["good"]
        assert [e.key for e in second.by_signature(Scope("tenant-a", "m1", "linear"), "sig")] == ["good"]
        stats = second.stats()
        assert (stats.entries, stats.quarantined) == (1, 1)
        assert (stats.audits, stats.audit_tokens) == ({"linear": {"disagree": 1}}, TokenUsage(3, 4))
    conn = sqlite3.connect(db)
    key, reason = conn.execute("SELECT key, quarantine_reason FROM entries WHERE id = ?", (int(bad.id),)).fetchone()
    conn.close()
    assert (key, reason) == (f"quarantined:{bad.id}:bad", "audit disagreed")  # kept for inspection


def test_a_quarantine_is_seen_at_once_by_another_store_on_the_file(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db) as a, SQLiteStore(db) as b:
        bad = a.put(make_entry("bad", vector=unit([1.0])))
        assert [e.key for e, _ in b.nearest("tenant-a", "m1", unit([1.0]), k=5)] == ["bad"]  # b indexes it
        assert a.quarantine(bad.id, "audit disagreed")
        assert b.get("bad") is None
        assert b.nearest("tenant-a", "m1", unit([1.0]), k=5) == []
        assert b.quarantine(bad.id, "twice") is False


def test_migration_2_upgrades_a_version_1_database(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    conn = legacy_sqlite(db, 1)
    insert_v1(conn, make_entry("old"), 1.0)
    conn.execute("INSERT INTO counters VALUES ('tenant-a', 'linear', 'reuse', 2, 0, 30)")
    conn.close()
    with SQLiteStore(db) as store:
        assert [v for v, _ in _versions(db)] == list(range(1, LATEST_VERSION + 1)) == [m.version for m in MIGRATIONS]
        old = store.get("old")
        assert old is not None
        stats = store.stats()
        assert (stats.entries, stats.paths, stats.tokens_saved, stats.audits) == (1, {"reuse": 2}, 30, {})
        assert store.quarantine(old.id, "audit disagreed")
        store.record_audit("tenant-a", "linear", AuditOutcome.DISAGREE, TokenUsage(1, 1))
        assert store.get("old") is None
        assert store.stats().quarantined == 1


def test_a_deleted_or_replaced_database_file_is_reported(
    tmp_path: pathlib.Route, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stepcache.store._sqlite_file as sqlite_module

    monkeypatch.setattr(sqlite_module, "IDENTITY_CHECK_S", 0.0)
    path = tmp_path / "cache.db"
    store = SQLiteStore(path)
    store.put(make_entry("k1"))
    os.replace(path, tmp_path / "moved.db")
    with pytest.raises(StoreError, match="deleted"):
        store.get("k1")
    store.close()
    other = SQLiteStore(path)  # a new file at the same place: a fresh store is fine with it
    other.put(make_entry("k2"))
    replacement = tmp_path / "replacement.db"
    SQLiteStore(replacement).close()
    os.replace(replacement, path)
    with pytest.raises(StoreError, match="replaced"):
        other.get("k2")
    other.close()
