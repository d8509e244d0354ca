"""Two ``stepcache serve`` processes on one PostgreSQL store, driven by the official ``openai`` SDK.

What a fleet behind a load balancer relies on: an answer cached through one replica is reused
through another; tenants stay isolated across replicas; replicas missing on the same prompt at once
store one entry; and a replica killed with SIGKILL mid-write loses no committed entry and leaves no
half-written one, while the other keeps serving.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from fleet_harness import Fleet, Replica, entries

pytestmark = pytest.mark.postgres

SOLVE_A = "Solve 3x + 5 = 20"
SOLVE_B = "Solve 4x + 2 = 30"  # a look-alike of SOLVE_A: served by adapting its entry


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def ask(replica: Replica, key: str, prompt: str) -> tuple[str, dict[str, Any], str]:
    """(X-StepCache-Path header, the body's ``stepcache`` object, the answer) of one chat call."""
    raw = replica.client(key).chat.completions.with_raw_response.create(model="m", messages=user(prompt))
    completion = raw.parse()
    meta: dict[str, Any] = completion.to_dict()["stepcache"]
    assert raw.headers["x-stepcache-path"] == meta["path"]
    return raw.headers["x-stepcache-path"], meta, completion.choices[0].message.content or ""


def test_an_entry_stored_via_one_replica_is_reused_by_the_other(fleet: Fleet) -> None:
    path, meta, answer = ask(fleet.a, "sk-fleet", SOLVE_A)
    assert (path, meta["entry"]) == ("miss", None) and answer.endswith("x = 5")
    [row] = entries(fleet.pg_url, fleet.schema)
    assert row.prompt == SOLVE_A and row.family == "linear"

    # Replica b never saw SOLVE_A: the exact prompt and a look-alike are both served from a's entry.
    path, meta, answer = ask(fleet.b, "sk-fleet", SOLVE_A)
    assert (path, meta["entry"], meta["upstream_tokens"]) == ("reuse", str(row.id), {"prompt": 0, "completion": 0})
    assert answer.endswith("x = 5")
    path, meta, answer = ask(fleet.b, "sk-fleet", SOLVE_B)
    assert (path, meta["entry"]) == ("reuse", str(row.id))
    assert answer == "1. 4x + 2 = 30\n2. 4x = 28\n3. x = 7"

    # Streamed too: the path header is there before the first chunk.
    raw = fleet.b.client("sk-fleet").chat.completions.with_raw_response.create(
        model="m", messages=user("Solve 5x + 1 = 26"), stream=True
    )
    assert raw.headers["x-stepcache-path"] == "reuse"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text.endswith("x = 5")

    assert len(fleet.upstream.calls) == 1
    assert len(entries(fleet.pg_url, fleet.schema)) == 1  # reuse stores nothing new


def test_tenants_stay_isolated_across_replicas(fleet: Fleet) -> None:
    path, _, _ = ask(fleet.a, "sk-alice", SOLVE_A)
    assert path == "miss"
    # Bob asks Alice's very question, Carol a look-alike, both via the other replica: both must miss.
    for key, prompt in (("sk-bob", SOLVE_A), ("sk-carol", SOLVE_B)):
        path, meta, _ = ask(fleet.b, key, prompt)
        assert (path, meta["entry"]) == ("miss", None), key
    assert len(fleet.upstream.calls) == 3
    # The control: replica b does see Alice's entry, for Alice. So the misses above are the
    # namespace at work, not the entry being invisible to b (which would make this test vacuous).
    path, meta, _ = ask(fleet.b, "sk-alice", SOLVE_B)
    assert path == "reuse" and meta["entry"] is not None and len(fleet.upstream.calls) == 3

    rows = entries(fleet.pg_url, fleet.schema)
    by_namespace = {row.namespace for row in rows}
    assert len(rows) == 3 and len(by_namespace) == 3
    # Namespaces are hashes of the keys; no key is ever written to the shared database.
    assert all(ns.startswith("key-") and "sk-" not in ns for ns in by_namespace)
    assert not any("sk-" in f"{row.key}{row.prompt}{row.text}" for row in rows)


def test_concurrent_misses_at_both_replicas_store_one_entry(fleet: Fleet) -> None:
    # The upstream answers slowly, so every request is in flight before any answer is stored.
    fleet.upstream.delay = 1.0
    per_replica = 4
    start = threading.Barrier(2 * per_replica)

    def call(replica: Replica) -> tuple[str, str, str]:
        start.wait(timeout=20)
        path, _, answer = ask(replica, "sk-fleet", SOLVE_A)
        return replica.name, path, answer

    with ThreadPoolExecutor(2 * per_replica) as pool:
        results = list(pool.map(call, [fleet.a, fleet.b] * per_replica))

    assert {answer for _, _, answer in results} == {"1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5"}
    # Coalescing is per process: each replica sent one upstream call and its other callers waited
    # for it and were then served the stored entry. Both replicas missed, and both stored...
    for name in ("a", "b"):
        paths = sorted(path for replica, path, _ in results if replica == name)
        assert paths == ["miss"] + ["reuse"] * (per_replica - 1), name
    assert len(fleet.upstream.calls) == 2
    # ...yet the shared table holds one entry: the second put found the first and returned it.
    [row] = entries(fleet.pg_url, fleet.schema)
    assert row.prompt == SOLVE_A

    from stepcache.store.postgres import PostgresStore

    with PostgresStore.from_url(fleet.store_url) as store:
        assert store.stats().entries == 1


def test_kill_9_mid_writes_loses_no_committed_entry(fleet: Fleet) -> None:
    fleet.upstream.delay = 0.05  # keeps several writes in flight at any moment
    writers, killed = 6, threading.Event()
    committed: dict[str, str] = {}  # prompt -> answer, for every write replica a answered as stored
    failed: list[str] = []
    lock = threading.Lock()

    def write(worker: int) -> None:
        client = fleet.a.client("sk-fleet")
        for i in range(1000):
            prompt = f"Summarise fleet record {worker}-{i} in one sentence."
            try:
                raw = client.chat.completions.with_raw_response.create(model="m", messages=user(prompt))
            except openai.APIConnectionError:
                # Only the crash may cut a write off; any other error fails the test.
                assert killed.is_set(), prompt
                with lock:
                    failed.append(prompt)
                return
            # A miss is answered only after store.put returned: the entry is committed.
            assert raw.headers["x-stepcache-path"] == "miss"
            with lock:
                committed[prompt] = raw.parse().choices[0].message.content or ""
            if killed.is_set():
                return

    with ThreadPoolExecutor(writers) as pool:
        running = [pool.submit(write, w) for w in range(writers)]
        deadline = time.monotonic() + 30
        while len(committed) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        killed.set()
        os.kill(fleet.a.pid, signal.SIGKILL)
        for future in running:
            future.result()
    fleet.a.process.wait(timeout=10)
    assert fleet.a.process.returncode == -signal.SIGKILL
    assert len(committed) >= 30, fleet.a.log()
    assert failed, "the kill should have cut writes in flight"

    # The survivor keeps serving, new writes included.
    assert ask(fleet.b, "sk-fleet", "A question only replica b sees.")[0] == "miss"
    assert ask(fleet.b, "sk-fleet", "A question only replica b sees.")[0] == "reuse"

    rows = {row.prompt: row for row in entries(fleet.pg_url, fleet.schema)}
    # Nothing acknowledged is lost: every stored answer is in the table and served by b as reuse.
    assert set(committed) <= set(rows)
    for prompt, answer in committed.items():
        path, meta, served = ask(fleet.b, "sk-fleet", prompt)
        assert (path, meta["entry"], served) == ("reuse", str(rows[prompt].id), answer), prompt
    # Nothing is half-written: every row in the table (acknowledged or cut off after its commit)
    # is whole, consistent and served intact by the survivor.
    for prompt, row in rows.items():
        assert row.text == "Echo: " + prompt and row.text == "\n\n".join(row.steps), row
        assert row.dim == row.embedding_dims and row.dim > 0 and row.task["turns"][-1] == ["user", prompt]
        assert row.family == "generic" and row.prepared is not None
        if prompt not in committed:
            path, meta, served = ask(fleet.b, "sk-fleet", prompt)
            assert (path, meta["entry"], served) == ("reuse", str(row.id), row.text), prompt
    # Every row came from one upstream answer; the writes cut off before their commit left none.
    assert len(rows) <= len(fleet.upstream.calls)
