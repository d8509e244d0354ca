"""The parts every store shares: the counter buffer, the options models, typed capabilities."""

from __future__ import annotations

import pathlib
import time

import pytest
from pg_helpers import fresh_schema, require_postgres

from stepcache._exceptions import ConfigurationError
from stepcache.store import MemoryStore, SQLiteStore, Store, open_store
from stepcache.store._counters import FLUSH_EVERY, FLUSH_SECONDS, CounterBuffer
from stepcache.store._settings import SQLiteSettings


def test_a_write_is_due_after_flush_every_records() -> None:
    buffer = CounterBuffer(every=3, seconds=3600)
    assert [buffer.record("ns", "linear", "miss", 2, 0) for _ in range(3)] == [False, False, True]
    batch = buffer.take()
    assert batch.records == 3 and batch.rows() == [("ns", "linear", "miss", 3, 6, 0)]
    assert not buffer.take()


def test_a_write_is_due_after_flush_seconds() -> None:
    buffer = CounterBuffer(every=1000, seconds=0.0)
    assert buffer.record("ns", "linear", "reuse", 0, 5)


def test_a_failed_batch_comes_back_whole_and_the_next_try_waits() -> None:
    buffer = CounterBuffer(every=1, seconds=3600)
    buffer.touch(["7"])
    assert buffer.record("ns", "json", "miss", 1, 0)
    failed = buffer.take()
    buffer.touch([7, 8])  # 7 used again meanwhile: the newer time wins
    newer = buffer.take().uses
    buffer.give_back(failed)
    buffer.give_back(type(failed)(uses=newer))
    assert not buffer.record("ns", "json", "miss", 1, 0)  # backing off: no write due yet
    again = buffer.take()
    assert again.counts == {("ns", "json", "miss"): [2, 2, 0]} and again.records == 2
    assert again.uses == newer


def test_the_rows_come_in_one_order() -> None:
    buffer = CounterBuffer()
    for ns in ("b", "a", "c"):
        buffer.record(ns, "linear", "miss", 0, 0)
    assert [r[0] for r in buffer.take().rows()] == ["a", "b", "c"]


def test_both_database_stores_flush_alike_by_default() -> None:
    assert (SQLiteSettings().flush_every, SQLiteSettings().flush_interval) == (FLUSH_EVERY, FLUSH_SECONDS)
    from stepcache.store._pg_settings import PostgresSettings

    assert (PostgresSettings().flush_every, PostgresSettings().flush_interval) == (FLUSH_EVERY, FLUSH_SECONDS)


@pytest.mark.parametrize(
    "url, names",
    [
        ("memory://?cache_size=9", "max_entries, max_bytes, ttl, index_threshold"),
        ("sqlite:///tmp/x.db?cache_size=9", "max_entries, max_bytes, ttl, index_threshold, flush_every"),
        (
            "postgresql://u@127.0.0.1:9/db?cache_size=9",
            "max_entries, max_bytes, ttl, flush_every, flush_interval, schema",
        ),
    ],
)
def test_an_unknown_url_option_names_the_ones_there_are(url: str, names: str) -> None:
    with pytest.raises(ConfigurationError, match="no option 'cache_size'") as caught:
        open_store(url)
    assert names in str(caught.value)


def test_constructor_options_are_checked_by_the_same_model(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigurationError, match="nonsense=1: no such option.*busy_timeout"):
        SQLiteStore(tmp_path / "c.db", nonsense=1)
    with pytest.raises(ConfigurationError, match="busy_timeout=-1"):
        SQLiteStore(tmp_path / "c.db", busy_timeout=-1)
    with pytest.raises(ConfigurationError, match="max_bytes=0"):
        MemoryStore(max_bytes=0)
    with SQLiteStore(tmp_path / "c.db", max_bytes="2M", ttl="1h", flush_every=7) as store:
        assert (store.limits.max_bytes, store.limits.ttl, store.settings.flush_every) == (2 * 1024**2, 3600.0, 7)


def test_url_and_constructor_give_the_same_settings(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.db"
    with open_store(f"sqlite:///{str(path).lstrip('/')}?busy_timeout=2&flush_interval=0.5&max_entries=9") as a:
        with SQLiteStore(path, busy_timeout=2, flush_interval=0.5, max_entries=9) as b:
            assert isinstance(a, SQLiteStore) and a.settings == b.settings


def test_in_process_stores_say_so(tmp_path: pathlib.Path) -> None:
    assert MemoryStore.in_process and SQLiteStore.in_process
    assert Store.in_process is False
    with SQLiteStore(tmp_path / "c.db") as store:
        store.wait_ready()


@pytest.mark.postgres
def test_a_store_behind_a_server_is_not_in_process_and_has_nothing_to_wait_for() -> None:
    from stepcache.store.postgres import PostgresStore

    assert PostgresStore.in_process is False
    url = require_postgres()
    with fresh_schema(url) as schema, PostgresStore(url, schema=schema) as store:
        started = time.monotonic()
        store.wait_ready()
        assert time.monotonic() - started < 0.1


@pytest.mark.postgres
def test_postgres_options_from_the_url_and_the_constructor_agree() -> None:
    from stepcache.store.postgres import PostgresStore

    url = require_postgres()
    sep = "&" if "?" in url else "?"
    with fresh_schema(url) as schema:
        with PostgresStore.from_url(f"{url}{sep}schema={schema}&ef_search=99&synchronous_commit=on&ttl=1d") as a:
            with PostgresStore(url, schema=schema, ef_search=99, synchronous_commit=True, ttl=86400) as b:
                assert a.settings == b.settings
                assert a.settings.synchronous_commit is True and a.limits.ttl == 86400.0
