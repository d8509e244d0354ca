"""The Store contract, run against every store in ``STORE_PARAMS``."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from store_helpers import make_entry, run_in_threads, unit

from stepcache._exceptions import StoreError
from stepcache._types import FORMAT_VERSION, AuditOutcome, Route, Scope, TokenUsage
from stepcache.store import AuditStore, Store


def test_get_missing_key_is_none(store: Store) -> None:
    assert store.get("nope") is None


def test_put_assigns_id_and_time_and_get_round_trips(store: Store) -> None:
    entry = make_entry("k1")
    stored = store.put(entry)
    assert stored.id
    assert stored.created_at > 0
    got = store.get("k1")
    assert got is not None
    assert got.id == stored.id
    assert got.scope == entry.scope
    assert (got.signature, got.prompt, got.text) == (entry.signature, entry.prompt, entry.text)
    assert got.task == entry.task
    assert got.steps == entry.steps
    assert got.prepared == entry.prepared
    assert got.cost == TokenUsage(12, 34)
    assert got.format_version == FORMAT_VERSION
    assert got.embedding.dtype == np.float32
    np.testing.assert_array_equal(got.embedding, entry.embedding)


def test_put_keeps_a_given_created_at(store: Store) -> None:
    assert store.put(make_entry("k1", created_at=123.5)).created_at == 123.5


def test_put_is_idempotent_on_key(store: Store) -> None:
    first = store.put(make_entry("k1", text="first"))
    second = store.put(make_entry("k1", text="second"))
    assert second.id == first.id
    assert second.text == "first"
    got = store.get("k1")
    assert got is not None and got.text == "first"
    assert store.stats().entries == 1


def test_json_round_trip_is_the_same_everywhere(store: Store) -> None:
    entry = make_entry("k1")
    entry = type(entry)(**{**{f: getattr(entry, f) for f in entry.__dataclass_fields__}, "task": {"pair": (1, 2)}})
    stored = store.put(entry)
    assert stored.task == {"pair": [1, 2]}
    got = store.get("k1")
    assert got is not None and got.task == {"pair": [1, 2]}


def test_unserialisable_task_is_refused_and_loses_nothing(store: Store) -> None:
    store.put(make_entry("good"))
    bad = make_entry("bad")
    bad = type(bad)(**{**{f: getattr(bad, f) for f in bad.__dataclass_fields__}, "task": {"s": {1, 2}}})
    with pytest.raises(StoreError, match="JSON"):
        store.put(bad)
    assert store.get("bad") is None
    assert store.get("good") is not None
    assert store.stats().entries == 1


def test_by_signature_is_confined_to_its_scope(store: Store) -> None:
    store.put(make_entry("base"))
    store.put(make_entry("other-ns", namespace="tenant-b"))
    store.put(make_entry("other-model", model="m2"))
    store.put(make_entry("other-family", family="json"))
    store.put(make_entry("other-sig", signature="sig2"))
    found = store.by_signature(Scope("tenant-a", "m1", "linear"), "sig")
    assert [e.key for e in found] == ["base"]
    assert [e.key for e in store.by_signature(Scope("tenant-b", "m1", "linear"), "sig")] == ["other-ns"]
    assert [e.key for e in store.by_signature(Scope("tenant-a", "m2", "linear"), "sig")] == ["other-model"]
    assert [e.key for e in store.by_signature(Scope("tenant-a", "m1", "json"), "sig")] == ["other-family"]
    assert store.by_signature(Scope("tenant-c", "m1", "linear"), "sig") == []


def test_by_signature_is_newest_first_and_limited(store: Store) -> None:
    for i, t in enumerate([10.0, 30.0, 20.0, 40.0]):
        store.put(make_entry(f"k{i}", created_at=t))
    found = store.by_signature(Scope("tenant-a", "m1", "linear"), "sig", limit=3)
    assert [e.created_at for e in found] == [40.0, 30.0, 20.0]


def test_nearest_orders_by_cosine_within_namespace_and_model(store: Store) -> None:
    store.put(make_entry("close", vector=unit([1.0, 0.1])))
    store.put(make_entry("far", vector=unit([0.2, 1.0])))
    store.put(make_entry("mid", vector=unit([1.0, 0.6])))
    # Identical vectors in other namespaces or models must never be returned.
    store.put(make_entry("other-ns", namespace="tenant-b", vector=unit([1.0])))
    store.put(make_entry("other-model", model="m2", vector=unit([1.0])))
    query = unit([1.0])
    found = store.nearest("tenant-a", "m1", query, k=3)
    assert [e.key for e, _ in found] == ["close", "mid", "far"]
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(float(unit([1.0, 0.1]) @ query), abs=1e-5)
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", query, k=1)] == ["close"]
    assert [e.key for e, _ in store.nearest("tenant-b", "m1", query, k=5)] == ["other-ns"]
    assert store.nearest("tenant-z", "m1", query, k=5) == []


def test_nearest_family_filter(store: Store) -> None:
    # Many linear entries closer to the query than the one json entry: the filter must still find it.
    for i in range(30):
        store.put(make_entry(f"lin{i}", vector=unit([1.0, 0.01 * i])))
    store.put(make_entry("json", family="json", vector=unit([0.1, 1.0])))
    query = unit([1.0])
    only_json = store.nearest("tenant-a", "m1", query, k=2, family="json")
    assert [e.key for e, _ in only_json] == ["json"]
    linear = store.nearest("tenant-a", "m1", query, k=3, family="linear")
    assert [e.key for e, _ in linear] == ["lin0", "lin1", "lin2"]
    assert store.nearest("tenant-a", "m1", query, k=3, family="generic") == []
    anything = store.nearest("tenant-a", "m1", unit([0.1, 1.0]), k=1, family=None)
    assert [e.key for e, _ in anything] == ["json"]


def test_nearest_sees_entries_put_after_the_first_search(store: Store) -> None:
    store.put(make_entry("a", vector=unit([1.0, 1.0])))
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0]), k=2)] == ["a"]
    store.put(make_entry("b", vector=unit([1.0])))
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0]), k=2)] == ["b", "a"]


def test_other_format_versions_are_never_returned(store: Store) -> None:
    store.put(make_entry("old", format_version=FORMAT_VERSION - 1, vector=unit([1.0])))
    store.put(make_entry("new", format_version=FORMAT_VERSION + 1, vector=unit([1.0])))
    store.put(make_entry("current", vector=unit([0.5, 1.0])))
    assert store.get("old") is None
    assert store.get("new") is None
    assert [e.key for e in store.by_signature(Scope("tenant-a", "m1", "linear"), "sig")] == ["current"]
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0]), k=5)] == ["current"]
    assert store.stats().entries == 1


def test_record_and_stats(store: Store) -> None:
    store.put(make_entry("a"))
    store.put(make_entry("b", family="json"))
    store.put(make_entry("c", namespace="tenant-b"))
    store.record("tenant-a", "linear", Route.REUSE, TokenUsage(), saved=40)
    store.record("tenant-a", "linear", Route.REUSE, TokenUsage(), saved=60)
    store.record("tenant-a", "json", Route.MISS, TokenUsage(10, 20), saved=0)
    store.record("tenant-b", "linear", Route.PATCH, TokenUsage(5, 5), saved=7)
    everything = store.stats()
    assert everything.entries == 3
    assert everything.entries_by_family == {"linear": 2, "json": 1}
    assert everything.paths == {"reuse": 2, "miss": 1, "patch": 1}
    assert everything.tokens_spent == 40
    assert everything.tokens_saved == 107
    a = store.stats("tenant-a")
    assert (a.entries, a.entries_by_family) == (2, {"linear": 1, "json": 1})
    assert a.paths == {"reuse": 2, "miss": 1}
    assert (a.tokens_spent, a.tokens_saved) == (30, 100)
    empty = store.stats("nobody")
    assert (empty.entries, empty.paths, empty.tokens_spent) == (0, {}, 0)


def test_concurrent_puts_of_one_key_yield_one_entry(store: Store) -> None:
    barrier = threading.Barrier(8)
    ids: list[str] = []

    def put(i: int) -> None:
        barrier.wait()
        ids.append(store.put(make_entry("same", text=f"writer {i}")).id)

    assert run_in_threads(put, 8) == []
    assert len(ids) == 8 and len(set(ids)) == 1
    assert store.stats().entries == 1
    assert len(store.nearest("tenant-a", "m1", unit([1.0]), k=5)) == 1


def test_concurrent_puts_and_searches(store: Store) -> None:
    rng = np.random.default_rng(1)
    vectors = [unit(rng.standard_normal(8)) for _ in range(80)]

    def writer(offset: int) -> None:
        for i in range(offset, 80, 2):
            store.put(make_entry(f"k{i}", vector=vectors[i]))

    def reader() -> None:
        for i in range(40):
            for entry, score in store.nearest("tenant-a", "m1", vectors[i], k=3):
                assert -1.0001 <= score <= 1.0001 and entry.key.startswith("k")

    # two writers (threads 0 and 1, even and odd keys) while two readers search
    assert run_in_threads(lambda i: writer(i) if i < 2 else reader(), 4) == []
    assert store.stats().entries == 80
    for i in (0, 41, 79):
        assert store.nearest("tenant-a", "m1", vectors[i], k=1)[0][0].key == f"k{i}"


def test_vectors_of_another_length_are_not_compared(store: Store) -> None:
    # A store reopened with another embedder (another dimension) finds nothing rather than failing.
    store.put(make_entry("eight", vector=unit([1.0], dim=8)))
    store.put(make_entry("sixteen", vector=unit([1.0], dim=16)))
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0], dim=16), k=5)] == ["sixteen"]
    assert store.nearest("tenant-a", "m1", unit([1.0], dim=4), k=5) == []


# -- audit sampling: quarantine and audit counts ----------------------------------------------------


def test_every_store_can_take_audits(store: Store) -> None:
    assert isinstance(store, AuditStore)


def test_a_quarantined_entry_is_never_found_again_but_kept(store: Store) -> None:
    assert isinstance(store, AuditStore)
    bad = store.put(make_entry("bad", vector=unit([1.0])))
    good = store.put(make_entry("good", vector=unit([1.0, 0.1])))
    other = store.put(make_entry("other", family="json", vector=unit([1.0, 0.2])))
    assert store.quarantine(bad.id, "audit disagreed: x = 5 vs x = 6") is True
    assert store.get("bad") is None
    assert [e.key for e in store.by_signature(Scope("tenant-a", "m1", "linear"), "sig")] == ["good"]
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0]), k=5)] == ["good", "other"]
    assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0]), k=5, family="linear")] == ["good"]
    stats = store.stats()
    assert (stats.entries, stats.entries_by_family) == (2, {"linear": 1, "json": 1})
    assert (stats.quarantined, stats.quarantined_by_family) == (1, {"linear": 1})
    assert store.stats("tenant-b").quarantined == 0
    assert store.quarantine(bad.id, "again") is False  # already quarantined
    assert store.quarantine("999999", "no such entry") is False
    assert store.quarantine("not-an-id", "no such entry") is False
    # The key is free again: the next answer for the same request is stored as a new entry.
    fresh = store.put(make_entry("bad", text="x = 6", vector=unit([1.0])))
    assert fresh.id not in (bad.id, good.id, other.id)
    got = store.get("bad")
    assert got is not None and (got.id, got.text) == (fresh.id, "x = 6")
    assert store.stats().quarantined == 1


def test_audit_counts_are_kept_per_family_and_apart_from_served_tokens(store: Store) -> None:
    assert isinstance(store, AuditStore)
    store.record("tenant-a", "linear", Route.REUSE, TokenUsage(), saved=50)
    store.record_audit("tenant-a", "linear", AuditOutcome.AGREE, TokenUsage(10, 5))
    store.record_audit("tenant-a", "linear", AuditOutcome.AGREE, TokenUsage(10, 5))
    store.record_audit("tenant-a", "json", AuditOutcome.DISAGREE, TokenUsage(20, 8))
    store.record_audit("tenant-b", "json", AuditOutcome.INCONCLUSIVE, TokenUsage(1, 0))
    store.record_audit("tenant-b", "json", AuditOutcome.DROPPED, TokenUsage(), count=3)
    stats = store.stats()
    assert stats.audits == {
        "linear": {"agree": 2},
        "json": {"disagree": 1, "inconclusive": 1, "dropped": 3},
    }
    assert stats.audit_tokens == TokenUsage(41, 18)
    assert (stats.tokens_spent, stats.tokens_saved) == (0, 50)
    assert stats.disagreement_rate() == pytest.approx(1 / 3)
    assert stats.disagreement_rate("json") == 1.0
    assert stats.disagreement_rate("generic") is None
    only_b = store.stats("tenant-b")
    assert only_b.audits == {"json": {"inconclusive": 1, "dropped": 3}}
    assert only_b.audit_tokens == TokenUsage(1, 0)


# -- lifecycle: inspection and purge ---------------------------------------------------------------


def _lifecycle_entries(store: Store) -> dict[str, str]:
    import time

    now = time.time()
    made = {
        "old-a-linear": make_entry("old-a-linear", created_at=now - 40 * 86400, vector=unit([1.0, 0.1])),
        "new-a-json": make_entry("new-a-json", family="json", created_at=now - 60, vector=unit([1.0, 0.2])),
        "new-b-linear": make_entry("new-b-linear", namespace="tenant-b", created_at=now - 30, vector=unit([1.0, 0.3])),
    }
    return {key: store.put(entry).id for key, entry in made.items()}


def test_entries_are_listed_newest_first_and_filtered(store: Store) -> None:
    from stepcache.store import LifecycleStore

    assert isinstance(store, LifecycleStore)
    ids = _lifecycle_entries(store)
    assert [e.id for e in store.entries()] == [ids["new-b-linear"], ids["new-a-json"], ids["old-a-linear"]]
    assert [e.id for e in store.entries(namespace="tenant-a")] == [ids["new-a-json"], ids["old-a-linear"]]
    assert [e.id for e in store.entries(family="linear", limit=1)] == [ids["new-b-linear"]]


def test_purge_deletes_what_matches_and_nothing_finds_it_again(store: Store) -> None:
    from stepcache.store import LifecycleStore

    assert isinstance(store, LifecycleStore)
    ids = _lifecycle_entries(store)
    assert store.purge(older_than=30 * 86400) == 1
    assert store.get("old-a-linear") is None
    assert ids["old-a-linear"] not in [e.id for e, _ in store.nearest("tenant-a", "m1", unit([1.0, 0.1]), k=5)]
    assert store.purge(namespace="tenant-a", family="linear") == 0
    assert store.purge(namespace="tenant-b") == 1
    assert store.by_signature(Scope("tenant-b", "m1", "linear"), "sig") == []
    assert [e.id for e in store.entries()] == [ids["new-a-json"]]
    assert store.stats().entries == 1
    # a purged key can be stored again
    assert store.put(make_entry("old-a-linear")).id


def test_entries_and_purge_by_id(store: Store) -> None:
    from stepcache.store import LifecycleStore

    assert isinstance(store, LifecycleStore)
    ids = _lifecycle_entries(store)
    assert [e.id for e in store.entries(ids=[ids["new-a-json"], "no-such-id"])] == [ids["new-a-json"]]
    assert store.purge(ids=[ids["new-a-json"], "999999"]) == 1
    assert store.get("new-a-json") is None and len(store.entries()) == 2
    assert store.purge(ids=[]) == 0
