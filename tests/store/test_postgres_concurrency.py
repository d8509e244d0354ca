"""Several writers on one PostgreSQL store: threads, processes, and a writer killed with SIGKILL.

Child processes are started with ``spawn`` (a connection pool must never cross a ``fork``) and only
use this module's own helpers, so they import nothing from the test tree but this file.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pytest
from pg_helpers import fresh_schema, require_postgres

from stepcache._types import Entry, Scope, TokenUsage

pytestmark = pytest.mark.postgres

DIM = 16
SPAWN = multiprocessing.get_context("spawn")


def entry_for(key: str, writer: str = "") -> Entry:
    """Everything but ``text`` follows from ``key``, so a reader can tell a complete row from a torn one."""
    seed = sum(key.encode()) * 7919 + len(key)
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return Entry(
        key=key,
        scope=Scope("tenant-a", "m1", "linear"),
        signature=f"sig-{key}",
        prompt=f"prompt for {key} " + "x" * 3000,  # large enough to be TOASTed: more to tear
        task={"key": key, "numbers": list(range(50))},
        steps=tuple(f"step {i} of {key}" for i in range(12)),
        text=f"answer by {writer}",
        embedding=vector / np.linalg.norm(vector),
        prepared={"key": key},
        cost=TokenUsage(3, 4),
    )


def assert_complete(entry: Entry) -> None:
    expected = entry_for(entry.key)
    assert (entry.signature, entry.prompt, entry.task, entry.steps, entry.prepared) == (
        expected.signature,
        expected.prompt,
        expected.task,
        expected.steps,
        expected.prepared,
    )
    assert entry.text.startswith("answer by ")
    np.testing.assert_allclose(entry.embedding, expected.embedding, rtol=0, atol=1e-7)


def put_keys(url: str, schema: str, keys: list[str], writer: str, results: Any) -> None:
    """Child process: put ``keys`` in order and send back ``{key: id}``."""
    from stepcache.store.postgres import PostgresStore

    with PostgresStore(url, schema=schema, max_size=2) as store:
        results.put({key: store.put(entry_for(key, writer)).id for key in keys})


def put_forever(url: str, schema: str, report: Connection) -> None:
    """Child process: put k0, k1, ... and report each key only after its put returned."""
    from stepcache.store.postgres import PostgresStore

    with PostgresStore(url, schema=schema, max_size=1) as store:
        i = 0
        while True:
            store.put(entry_for(f"k{i}", "doomed"))
            report.send(f"k{i}")
            i += 1


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    url = require_postgres()
    with fresh_schema(url) as schema:
        from stepcache.store.postgres import PostgresStore

        PostgresStore(url, schema=schema).close()  # migrate once, before the writers race
        yield url, schema


def test_threads_putting_the_same_keys_store_each_once(pg: tuple[str, str]) -> None:
    from stepcache.store.postgres import PostgresStore

    url, schema = pg
    keys = [f"k{i}" for i in range(40)]
    seen: list[dict[str, str]] = []
    errors: list[BaseException] = []
    with PostgresStore(url, schema=schema, max_size=6) as store:
        barrier = threading.Barrier(6)

        def writer(n: int) -> None:
            order = keys[:]
            random.Random(n).shuffle(order)
            try:
                barrier.wait()
                seen.append({key: store.put(entry_for(key, f"thread {n}")).id for key in order})
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert all(ids == seen[0] for ids in seen)  # every writer got the one winning entry
        assert store.stats().entries == len(keys)
        for key in keys:
            got = store.get(key)
            assert got is not None and got.id == seen[0][key]
            assert_complete(got)


def test_two_processes_putting_the_same_keys_store_each_once(pg: tuple[str, str]) -> None:
    from stepcache.store.postgres import PostgresStore

    url, schema = pg
    keys = [f"k{i}" for i in range(60)]
    results = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=put_keys, args=(url, schema, keys, "A", results)),
        SPAWN.Process(target=put_keys, args=(url, schema, keys[::-1], "B", results)),
    ]
    for p in procs:
        p.start()
    a, b = results.get(timeout=120), results.get(timeout=120)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert a == b
    with PostgresStore(url, schema=schema) as store:
        assert store.stats().entries == len(keys)
        writers = set()
        for key in keys:
            got = store.get(key)
            assert got is not None and got.id == a[key]
            assert_complete(got)
            writers.add(got.text)
    assert writers <= {"answer by A", "answer by B"}


def test_killed_writer_loses_no_committed_entry_and_leaves_no_torn_one(pg: tuple[str, str]) -> None:
    from stepcache.store.postgres import PostgresStore

    url, schema = pg
    receive, send = SPAWN.Pipe(duplex=False)
    proc = SPAWN.Process(target=put_forever, args=(url, schema, send))
    proc.start()
    send.close()
    committed: list[str] = []
    deadline = time.monotonic() + 120
    while len(committed) < 40 and time.monotonic() < deadline:
        if receive.poll(1):
            committed.append(receive.recv())
    time.sleep(random.Random().uniform(0, 0.02))  # land the kill anywhere inside a put
    proc.kill()
    proc.join(timeout=30)
    assert proc.exitcode == -9
    try:
        while receive.poll(0):  # reports sent just before the kill
            committed.append(receive.recv())
    except EOFError:  # the writer's end is closed: everything it sent has been read
        pass
    assert len(committed) >= 40, "the writer never got going"

    # A lock left behind by the killed session would make the put below fail, not hang.
    sep = "&" if "?" in url else "?"
    with PostgresStore(f"{url}{sep}options=-c%20lock_timeout%3D30000", schema=schema) as store:
        for key in committed:
            got = store.get(key)
            assert got is not None, f"{key} was acknowledged but is gone"
            assert_complete(got)
        # At most one put was in flight: it either committed whole or left nothing.
        stats = store.stats()
        assert stats.entries in (len(committed), len(committed) + 1)
        in_flight = store.get(f"k{len(committed)}")
        if in_flight is not None:
            assert_complete(in_flight)
        again = store.put(entry_for(f"k{len(committed)}", "survivor"))
        assert_complete(again)
        assert store.stats().entries == len(committed) + 1
