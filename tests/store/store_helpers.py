"""Entries, vectors and threads for the store tests."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

import numpy as np

from stepcache._types import FORMAT_VERSION, Entry, Scope, TokenUsage


def unit(values: list[float] | np.ndarray, dim: int = 8) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    arr = np.asarray(values, dtype=np.float32)
    v[: arr.size] = arr
    return (v / np.linalg.norm(v)).astype(np.float32)


def run_in_threads(work: Callable[[int], object], n: int) -> list[BaseException]:
    """Run ``work(0)`` … ``work(n - 1)`` in ``n`` threads at once; what they raised, once all have ended."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # the caller asserts on the list
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def make_entry(
    key: str,
    *,
    namespace: str = "tenant-a",
    model: str = "m1",
    family: str = "linear",
    signature: str = "sig",
    vector: np.ndarray | None = None,
    text: str = "x = 5",
    format_version: int = FORMAT_VERSION,
    created_at: float = 0.0,
) -> Entry:
    return Entry(
        key=key,
        scope=Scope(namespace, model, family),
        signature=signature,
        prompt=f"prompt for {key}",
        task={"a": 3, "b": [5, 20], "var": "x", "nested": {"k": None, "ok": True, "f": 1.5}},
        steps=("Step 1: 3x = 15", "Step 2: x = 5"),
        text=text,
        embedding=unit([1.0]) if vector is None else vector,
        prepared={"template": "Step 1: {a}x = {c}"},
        format_version=format_version,
        created_at=created_at,
        cost=TokenUsage(12, 34),
    )


def payload_of(entry: Entry) -> int:
    """The bytes ``max_bytes`` counts for ``entry``, measured as every store measures them."""
    from stepcache.store._codec import dump_json, encode_vector, payload_size

    return payload_size(
        entry.prompt,
        dump_json(entry.task, "task", entry.key),
        dump_json(list(entry.steps), "steps", entry.key),
        entry.text,
        dump_json(entry.prepared, "prepared", entry.key),
        encode_vector(entry.embedding),
    )


def legacy_sqlite(path: object, version: int) -> sqlite3.Connection:
    """A SQLite database at schema ``version`` (1 to 3) as StepCache left it before migrations were
    recorded with names (``schema_migrations (version, applied_at)``), open in autocommit mode."""
    import time

    from stepcache.store._sqlite_migrations import MIGRATIONS, SQLiteDatabase

    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    db = SQLiteDatabase(conn, "legacy")
    for step in MIGRATIONS[:version]:
        db.script(step.sql)
        conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (step.version, time.time()))
    return conn


def insert_v1(conn: sqlite3.Connection, entry: Entry, created_at: float) -> None:
    """``entry`` as a SQLite database at schema version 1 or 2 held it (``expires_at`` came with 3,
    ``embedder`` with 4)."""
    from stepcache.store._codec import COLUMNS, entry_values

    columns = COLUMNS[:-2]
    values = entry_values(entry, created_at, None, "")[: len(columns) - 1]
    marks = ", ".join("?" * len(values))
    conn.execute(f"INSERT INTO entries ({', '.join(columns[1:])}) VALUES ({marks})", values)


def insert_v3(conn: sqlite3.Connection, entry: Entry, created_at: float) -> None:
    """``entry`` as a SQLite database at schema version 3 held it (no ``embedder``)."""
    from stepcache.store._codec import COLUMNS, entry_values, values_size

    columns = COLUMNS[:-1]
    values = entry_values(entry, created_at, None, "")[: len(columns) - 1]
    marks = ", ".join("?" * (len(values) + 2))
    conn.execute(
        f"INSERT INTO entries ({', '.join(columns[1:])}, last_used, size) VALUES ({marks})",
        (*values, created_at, values_size(values)),
    )
