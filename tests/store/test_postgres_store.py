"""PostgreSQL-specific behaviour: URL options, error messages, migrations, dimensions, counters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from pg_helpers import IN_CI, fresh_schema, insert_legacy, legacy_schema, require_postgres
from store_helpers import make_entry, run_in_threads, unit

from stepcache._exceptions import ConfigurationError, StoreError, StoreVersionError
from stepcache._types import FORMAT_VERSION, AuditOutcome, Route, TokenUsage
from stepcache.store._pg_migrations import LATEST, hnsw_index_name
from stepcache.store._pg_settings import redact

# In CI the [postgres] extra must be installed: a missing psycopg fails collection there instead of skipping.
psycopg = __import__("psycopg") if IN_CI else pytest.importorskip("psycopg")

from stepcache.store.postgres import PostgresStore  # noqa: E402


@pytest.fixture
def pg_url() -> str:
    return require_postgres()


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with fresh_schema(pg_url) as name:
        yield name


# -- without a server ------------------------------------------------------------------------------


def test_unreachable_server_says_how_to_fix_it() -> None:
    # Port 9 (discard) on loopback: nothing listens there, so the connection is refused at once.
    with pytest.raises(StoreError, match="scripts/postgres.sh start") as caught:
        PostgresStore("postgresql://someone:hunter2@127.0.0.1:9/db?connect_timeout=3")
    assert "hunter2" not in str(caught.value)
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


@pytest.mark.parametrize(
    "url, match",
    [
        ("mysql://u@h/db", "not a PostgreSQL URL"),
        ("postgresql://u@127.0.0.1:9/db?ef_search=lots", "ef_search"),
        ("postgresql://u@127.0.0.1:9/db?ef_search=0", "ef_search"),
        ("postgresql://u@127.0.0.1:9/db?schema=Robert');DROP", "schema"),
        ("postgresql://u@127.0.0.1:9/db?min_size=5&max_size=2", "min_size"),
        ("postgresql://u@127.0.0.1:9/db?no_such_libpq_option=1", "no option 'no_such_libpq_option'.*schema.*sslmode"),
        ("postgresql://u@127.0.0.1:9/db?synchronous_commit=maybe", "synchronous_commit='maybe'"),
        ("postgresql://u@127.0.0.1:9/db?max_entries=0", "max_entries"),
        ("postgresql://u@127.0.0.1:9/db?ttl=soon", "ttl"),
    ],
)
def test_bad_options_are_configuration_errors(url: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        PostgresStore.from_url(url)


# -- with a server ---------------------------------------------------------------------------------

pg = pytest.mark.postgres


@pg
def test_from_url_takes_store_options_and_passes_the_rest_to_libpq(pg_url: str, schema: str) -> None:
    sep = "&" if "?" in pg_url else "?"
    with PostgresStore.from_url(f"{pg_url}{sep}schema={schema}&ef_search=123&max_size=3&application_name=sc") as store:
        assert isinstance(store, PostgresStore)
        assert (store.settings.ef_search, store.settings.max_size, store.settings.schema_) == (123, 3, schema)
        with store._connection("test") as conn:
            assert conn.execute("SHOW hnsw.ef_search").fetchone() == ("123",)
            assert conn.execute("SHOW hnsw.iterative_scan").fetchone() == ("relaxed_order",)
            assert conn.execute("SHOW application_name").fetchone() == ("sc",)


@pg
def test_migrations_are_recorded_and_reopening_applies_nothing(pg_url: str, schema: str) -> None:
    PostgresStore(pg_url, schema=schema).close()
    PostgresStore(pg_url, schema=schema).close()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(f"SELECT version FROM {schema}.schema_migrations ORDER BY version").fetchall()
    assert [v for (v,) in rows] == list(range(1, LATEST + 1))


@pg
def test_replicas_starting_together_migrate_once(pg_url: str, schema: str) -> None:
    barrier = threading.Barrier(6)

    def open_one(_: int) -> None:
        barrier.wait()
        PostgresStore(pg_url, schema=schema, min_size=0).close()

    assert run_in_threads(open_one, 6) == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {schema}.schema_migrations").fetchone() == (LATEST,)


@pg
def test_a_newer_schema_is_refused(pg_url: str, schema: str) -> None:
    PostgresStore(pg_url, schema=schema).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute(f"INSERT INTO {schema}.schema_migrations VALUES (%s, 'later', 0)", (LATEST + 1,))
    with pytest.raises(StoreVersionError, match="Upgrade StepCache"):
        PostgresStore(pg_url, schema=schema)


@pg
def test_each_dimension_gets_its_own_hnsw_index_and_is_searched_apart(pg_url: str, schema: str) -> None:
    with PostgresStore(pg_url, schema=schema) as store:
        store.put(make_entry("eight", vector=unit([1.0], dim=8)))
        store.put(make_entry("sixteen", vector=unit([1.0], dim=16)))
        assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0], dim=8), k=5)] == ["eight"]
        assert [e.key for e, _ in store.nearest("tenant-a", "m1", unit([1.0], dim=16), k=5)] == ["sixteen"]
        assert store.nearest("tenant-a", "m1", unit([1.0], dim=4), k=5) == []
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND indexname LIKE 'entries_hnsw%%'"
            " ORDER BY indexname",
            (schema,),
        ).fetchall()
    names = {hnsw_index_name("legacy-8", 8), hnsw_index_name("legacy-16", 16)}
    assert {name for name, _ in rows} == names
    assert all("hnsw" in d and "vector_cosine_ops" in d for _, d in rows)


@pg
def test_filtered_search_uses_the_index_and_still_returns_k(pg_url: str, schema: str) -> None:
    # 600 neighbours of the query belong to other namespaces or families; only 5 are ours, and far away.
    # On a table this small the planner would rather sort the btree's rows (exact, and fine), so we
    # make sorting prohibitive: then the HNSW index must serve the filtered query, and a scan that
    # stopped after ef_search candidates would return none of ours.
    rng = np.random.default_rng(3)
    base = unit([1.0], dim=32)
    sep = "&" if "?" in pg_url else "?"
    hnsw_only = f"{pg_url}{sep}options=-c%20enable_sort%3Doff%20-c%20enable_seqscan%3Doff"
    with PostgresStore.from_url(f"{hnsw_only}&schema={schema}&ef_search=10") as store:
        for i in range(600):
            noise = unit(base + 0.05 * rng.standard_normal(32).astype(np.float32), dim=32)
            store.put(make_entry(f"crowd{i}", namespace="tenant-b" if i % 2 else "tenant-a",
                                 family="json", vector=noise))  # fmt: skip
        for i in range(5):
            store.put(make_entry(f"mine{i}", vector=unit(rng.standard_normal(32), dim=32)))
        with store._connection("test") as conn:
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    "EXPLAIN SELECT id FROM entries WHERE embedder = 'legacy-32' AND dim = 32 AND namespace = 'tenant-a'"
                    " AND model = 'm1'"
                    f" AND format_version = {FORMAT_VERSION} AND family = 'linear'"
                    " ORDER BY (embedding::vector(32)) <=> (%b::vector(32)) LIMIT 3",
                    (base,),
                ).fetchall()
            )
        assert hnsw_index_name("legacy-32", 32) in plan and "Sort" not in plan
        found = store.nearest("tenant-a", "m1", base, k=3, family="linear")
    assert len(found) == 3 and all(e.key.startswith("mine") for e, _ in found)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


@pg
def test_counters_from_two_replicas_add_up(pg_url: str, schema: str) -> None:
    a = PostgresStore(pg_url, schema=schema)
    b = PostgresStore(pg_url, schema=schema)
    try:
        for store in (a, b):
            store.record("tenant-a", "linear", Route.REUSE, TokenUsage(1, 2), saved=10)
            store.record("tenant-a", "linear", Route.MISS, TokenUsage(3, 4), saved=0)
        a.close()  # close flushes
        stats = b.stats("tenant-a")
        assert stats.paths == {"reuse": 2, "miss": 2}
        assert (stats.tokens_spent, stats.tokens_saved) == (20, 20)
    finally:
        a.close()
        b.close()


@pg
def test_failed_flush_keeps_the_counts_for_the_next_one(pg_url: str, schema: str) -> None:
    store = PostgresStore(pg_url, schema=schema)
    try:
        store.record("tenant-a", "linear", Route.REUSE, TokenUsage(), saved=5)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE {schema}.counters RENAME TO counters_away")
            with pytest.raises(StoreError, match="counters"):
                store.flush()
            conn.execute(f"ALTER TABLE {schema}.counters_away RENAME TO counters")
        assert store.stats().paths == {"reuse": 1}
        assert store.stats().tokens_saved == 5
    finally:
        store.close()


@pg
def test_closed_store_refuses_work(pg_url: str, schema: str) -> None:
    store = PostgresStore(pg_url, schema=schema)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.get("k")


@pg
def test_migration_2_upgrades_a_version_1_schema(pg_url: str, schema: str) -> None:
    legacy_schema(pg_url, schema, 1)  # a schema as StepCache left it at version 1
    insert_legacy(pg_url, schema, "old", [1.0, 0.0])
    with PostgresStore(pg_url, schema=schema) as store:
        old = store.get("old")
        assert old is not None
        assert store.stats().entries == 1
        assert store.quarantine(old.id, "audit disagreed")
        store.record_audit("tenant-a", "linear", AuditOutcome.DISAGREE, TokenUsage(1, 2))
        assert store.get("old") is None
        stats = store.stats()
        assert (stats.entries, stats.quarantined, stats.audits) == (0, 1, {"linear": {"disagree": 1}})
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(f"SELECT version FROM {schema}.schema_migrations ORDER BY version").fetchall()
        kept = conn.execute(f"SELECT key, quarantine_reason FROM {schema}.entries").fetchall()
    assert [v for (v,) in rows] == list(range(1, LATEST + 1))
    assert kept == [(f"quarantined:{old.id}:old", "audit disagreed")]


@pg
def test_a_quarantine_is_seen_at_once_by_every_replica(pg_url: str, schema: str) -> None:
    with PostgresStore(pg_url, schema=schema) as a, PostgresStore(pg_url, schema=schema) as b:
        bad = a.put(make_entry("bad", vector=unit([1.0])))
        assert [e.key for e, _ in b.nearest("tenant-a", "m1", unit([1.0]), k=5)] == ["bad"]
        assert b.quarantine(bad.id, "audit disagreed")
        assert a.get("bad") is None and a.nearest("tenant-a", "m1", unit([1.0]), k=5) == []
        assert a.quarantine(bad.id, "twice") is False
        b.record_audit("tenant-a", "linear", AuditOutcome.DISAGREE, TokenUsage())
        a.record_audit("tenant-a", "linear", AuditOutcome.AGREE, TokenUsage())
        assert a.stats().audits == b.stats().audits == {"linear": {"agree": 1, "disagree": 1}}


@pg
def test_lifecycle_options_in_the_url(pg_url: str, schema: str) -> None:
    sep = "&" if "?" in pg_url else "?"
    with PostgresStore.from_url(f"{pg_url}{sep}schema={schema}&max_entries=5&max_bytes=1M&ttl=1h") as store:
        assert (store.limits.max_entries, store.limits.max_bytes, store.limits.ttl) == (5, 1024**2, 3600.0)


@pg
def test_hits_write_nothing_their_last_use_goes_out_with_the_next_flush(pg_url: str, schema: str) -> None:
    with PostgresStore(pg_url, schema=schema) as store:
        stored = store.put(make_entry("k", vector=unit([1.0])))

        def last_used() -> float:
            with psycopg.connect(pg_url) as conn:
                row = conn.execute(
                    f"SELECT last_used FROM {schema}.entry_use WHERE id = %s", (int(stored.id),)
                ).fetchone()
            assert row is not None
            return float(row[0])

        written = last_used()
        time.sleep(0.01)
        for _ in range(30):
            assert store.get("k") is not None
            assert store.nearest("tenant-a", "m1", unit([1.0]), k=1)
        assert last_used() == written
        store.flush()
        assert last_used() > written


@pg
def test_migration_3_gives_old_entries_their_stored_time_as_last_use(pg_url: str, schema: str) -> None:
    from stepcache.store._codec import payload_size

    legacy_schema(pg_url, schema, 2)  # a schema as StepCache left it at version 2
    for key, stored_at in [("old-b", 300.0), ("old-a", 100.0), ("old-c", 200.0)]:
        insert_legacy(pg_url, schema, key, [1.0, 0.0], created_at=stored_at)
    with PostgresStore(pg_url, schema=schema) as store:
        with psycopg.connect(pg_url) as conn:
            rows = conn.execute(
                f"SELECT e.key, u.last_used, u.size, e.expires_at FROM {schema}.entries e"
                f" JOIN {schema}.entry_use u USING (id) ORDER BY e.key"
            ).fetchall()
        size = payload_size("p", "{}", '["x = 5"]', "x = 5", "{}") + 4 * 2
        assert rows == [("old-a", 100.0, size, None), ("old-b", 300.0, size, None), ("old-c", 200.0, size, None)]
        assert store.get("old-a") is not None  # served as before, and now used
        assert store.evict(max_entries=2) == 1
        assert {e.key for e in store.entries()} == {"old-a", "old-b"}
        assert store.stats().evicted == 1


@pg
def test_replicas_share_one_cap_and_one_eviction_count(pg_url: str, schema: str) -> None:
    with (
        PostgresStore(pg_url, schema=schema, max_entries=10) as a,
        PostgresStore(pg_url, schema=schema, max_entries=10) as b,
    ):
        for i in range(60):
            (a if i % 2 else b).put(make_entry(f"k{i:02}"))
        left = {e.key for e in a.entries(limit=100)}
        assert 9 <= len(left) <= 12  # each replica counts when its own puts may have filled the room
        assert a.stats().evicted == b.stats().evicted == 60 - len(left)
        assert max(left) == "k59" and "k00" not in left
