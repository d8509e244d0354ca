"""Size cap, least-recently-used eviction and expiry, on the memory, SQLite and PostgreSQL stores alike."""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pg_helpers import fresh_schema, require_postgres
from store_helpers import make_entry, payload_of, unit

from stepcache._types import Scope
from stepcache.store import LifecycleStore, MemoryStore, SQLiteStore, Store, _lifecycle

Opener = Callable[..., Any]


def _memory(tmp: pathlib.Path) -> Iterator[Opener]:
    yield lambda **limits: MemoryStore(**limits)


def _sqlite(tmp: pathlib.Path) -> Iterator[Opener]:
    yield lambda **limits: SQLiteStore(tmp / "cache.db", **limits)


def _postgres(tmp: pathlib.Path) -> Iterator[Opener]:
    from stepcache.store.postgres import PostgresStore

    url = require_postgres()
    with fresh_schema(url) as schema:
        yield lambda **limits: PostgresStore(url, schema=schema, **limits)


@pytest.fixture(
    params=[
        pytest.param(_memory, id="memory"),
        pytest.param(_sqlite, id="sqlite"),
        pytest.param(_postgres, id="postgres", marks=pytest.mark.postgres),
    ]
)
def bounded(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Opener]:
    """``bounded(max_entries=..., max_bytes=..., ttl=...)`` opens a store; all are closed afterwards."""
    opened: list[Store] = []
    factory = request.param(tmp_path)
    opener = next(factory)

    def open_one(**limits: Any) -> Any:
        store = opener(**limits)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()
    next(factory, None)  # drop the PostgreSQL schema


@pytest.fixture
def check_every_put(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores opened after this count themselves and sweep expired entries at every put."""
    monkeypatch.setattr(_lifecycle, "CHECK_SECONDS", 0.0)


def keys(store: Any) -> set[str]:
    return {e.key for e in store.entries(limit=10_000)}


def test_every_store_can_be_bounded(bounded: Opener) -> None:
    assert isinstance(bounded(), LifecycleStore)


def test_the_cap_holds_after_many_puts_and_evictions_are_counted(bounded: Opener) -> None:
    store = bounded(max_entries=20)
    for i in range(100):
        store.put(make_entry(f"k{i:03}", namespace="tenant-a" if i % 2 else "tenant-b"))
        assert len(keys(store)) <= 21  # the put that crosses the cap evicts at once
    left = keys(store)
    assert 18 <= len(left) <= 20  # down to 90 % of the cap, then filled again
    assert left == {f"k{i:03}" for i in range(100 - len(left), 100)}  # nothing used: the oldest went
    stats = store.stats()
    assert stats.entries == len(left)
    assert stats.evicted == 100 - len(left)
    assert store.stats("tenant-a").evicted + store.stats("tenant-b").evicted == stats.evicted


def test_eviction_runs_in_batches_not_per_put(bounded: Opener) -> None:
    store = bounded(max_entries=100)
    for i in range(101):
        store.put(make_entry(f"k{i}"))
    assert store.stats().evicted == 11  # 101 → 90 in one go
    for i in range(101, 111):
        store.put(make_entry(f"k{i}"))
    assert store.stats().evicted == 11  # room for 10 more before the next eviction


def test_an_entry_used_recently_survives_and_the_least_recently_used_go(bounded: Opener) -> None:
    store = bounded(max_entries=10)
    for i in range(10):
        store.put(make_entry(f"k{i}", signature=f"sig{i}", vector=unit([1.0, float(i)])))
    time.sleep(0.01)
    assert store.get("k0") is not None  # an exact hit
    assert [e.key for e in store.by_signature(Scope("tenant-a", "m1", "linear"), "sig1")] == ["k1"]
    assert store.nearest("tenant-a", "m1", unit([1.0, 2.0]), k=1)[0][0].key == "k2"
    time.sleep(0.01)
    store.put(make_entry("k10"))  # over the cap: 11 → 9
    left = keys(store)
    assert left == {"k0", "k1", "k2", "k5", "k6", "k7", "k8", "k9", "k10"}
    assert store.get("k3") is None and store.get("k4") is None


def test_max_bytes_caps_the_stored_payload(bounded: Opener) -> None:
    one = payload_of(make_entry("k000"))
    store = bounded(max_bytes=10 * one)
    for i in range(60):
        store.put(make_entry(f"k{i:03}"))
    left = store.entries(limit=1000)
    assert 8 <= len(left) <= 10
    assert sum(payload_of(e) for e in left) <= 10 * one
    assert {e.key for e in left} == {f"k{i:03}" for i in range(60 - len(left), 60)}
    assert store.stats().evicted == 60 - len(left)


def test_evict_on_demand_keeps_exactly_the_bound(bounded: Opener) -> None:
    store = bounded()
    for i in range(12):
        store.put(make_entry(f"k{i}"))
    time.sleep(0.01)
    store.get("k0")
    assert store.evict(max_entries=5) == 7
    assert keys(store) == {"k0", "k8", "k9", "k10", "k11"}
    assert store.evict(max_entries=5) == 0
    assert store.evict() == 0  # nothing expired
    assert store.stats().evicted == 7


def test_quarantined_entries_count_toward_the_cap_and_age_out(bounded: Opener) -> None:
    store = bounded(max_entries=5)
    bad = store.put(make_entry("bad"))
    assert store.quarantine(bad.id, "audit disagreed")
    assert store.stats().quarantined == 1
    for i in range(5):
        store.put(make_entry(f"k{i}"))
    stats = store.stats()  # 6 entries → 4: the quarantined one (never served again) was used longest ago
    assert (stats.quarantined, stats.evicted) == (0, 2)
    assert keys(store) == {f"k{i}" for i in range(1, 5)}


def test_expired_entries_are_never_served(bounded: Opener) -> None:
    store = bounded()
    store.put(make_entry("fresh", vector=unit([1.0, 0.1])))  # the first put checks the store; the next not yet
    past = time.time() - 1
    stored = store.put(dataclasses.replace(make_entry("stale", vector=unit([1.0])), expires_at=past))
    assert stored.expires_at == pytest.approx(past)
    assert store.get("stale") is None
    assert [e.key for e in store.by_signature(Scope("tenant-a", "m1", "linear"), "sig")] == ["fresh"]
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0]), k=5)] == ["fresh"]
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0]), k=5, family="linear")] == ["fresh"]
    assert keys(store) == {"stale", "fresh"}  # kept (never served) until evicted
    assert store.evict() == 1
    assert keys(store) == {"fresh"}
    assert store.stats().evicted == 1


def test_an_expired_entry_gives_its_key_up_to_a_fresh_answer(bounded: Opener) -> None:
    store = bounded()
    stale = store.put(dataclasses.replace(make_entry("k", text="old answer"), expires_at=time.time() - 1))
    fresh = store.put(make_entry("k", text="new answer"))
    assert fresh.id != stale.id and fresh.text == "new answer"
    got = store.get("k")
    assert got is not None and got.id == fresh.id
    assert keys(store) == {"k"}
    assert store.stats().evicted == 1


def test_a_store_ttl_sets_each_entry_expiry(bounded: Opener) -> None:
    store = bounded(ttl=0.3)
    stored = store.put(make_entry("k"))
    assert stored.expires_at is not None
    assert stored.expires_at == pytest.approx(stored.created_at + 0.3, abs=0.05)
    kept = store.put(dataclasses.replace(make_entry("own"), expires_at=time.time() + 3600))
    assert kept.expires_at is not None and kept.expires_at > time.time() + 3000  # an entry's own expiry wins
    assert store.get("k") is not None
    time.sleep(0.4)
    assert store.get("k") is None
    assert store.get("own") is not None


@pytest.mark.usefixtures("check_every_put")
def test_expired_entries_are_deleted_by_a_later_put(bounded: Opener) -> None:
    store = bounded()
    store.put(dataclasses.replace(make_entry("stale"), expires_at=time.time() - 1))
    store.put(make_entry("fresh"))
    assert keys(store) == {"fresh"}
    assert store.stats().evicted == 1


def test_searches_still_find_k_entries_after_many_evictions(bounded: Opener) -> None:
    store = bounded(max_entries=30)
    for i in range(300):
        store.put(make_entry(f"k{i}", vector=unit([1.0, (i % 7) / 7.0, (i % 5) / 5.0])))
        if i % 40 == 0:
            store.nearest("tenant-a", "m1", unit([1.0]), k=4)
    found = store.nearest("tenant-a", "m1", unit([1.0]), k=4)
    assert len(found) == 4 and {e.key for e, _ in found} <= keys(store)
    vectors = getattr(store, "_vectors", None)
    if vectors is not None:  # in-memory vector indexes drop evicted rows: memory stays bounded
        assert len(vectors) <= 3 * 30
