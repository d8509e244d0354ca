"""How the PostgreSQL store scales (a benchmark, not a test).

    stepcache bench scale --postgres postgresql://postgres@127.0.0.1:55432/stepcache_test --entries 10000 100000

For each size N it bulk-loads N synthetic entries with ``COPY`` into a fresh schema, builds the HNSW
index (timed), then measures :meth:`PostgresStore.nearest` latency (p50/p99, end to end through the
pool and the Entry decoding) and recall@k against exact search, plus the throughput of ordinary
``put`` calls. Queries are fresh draws (not stored points), the harder case for an approximate index.

The bulk load is the bench's own: ``put`` one by one would take most of an hour at 1M entries, so it
writes the rows (and what ``put`` records beside them, in ``entry_use``) the way the store's current
migration lays them out, over its own connection; ``test_scale.py`` checks the store reads them back.
"""

from __future__ import annotations

import json
import struct
import time
from typing import Any

import numpy as np

from stepcache.store.postgres import PostgresStore, hnsw_index_statement

from ._result import ScaleResult, Timing
from ._synthetic import EMBEDDER, centres, clustered, number_of, synthetic_entry

__all__ = ["measure_postgres"]


def measure_postgres(
    url: str,
    n: int,
    *,
    dim: int = 384,
    k: int = 4,
    queries: int = 300,
    ef_search: tuple[int, ...] = (40, 64, 100),
    tenants: int = 1,
    puts: int = 300,
    seed: int = 0,
    spread: float = 0.6,
) -> list[ScaleResult]:
    """Load ``n`` entries spread over ``tenants`` namespaces and measure lookups in the first one,
    once per ``ef_search`` value (the index is built once)."""
    rng = np.random.default_rng(seed)
    around = centres(max(16, n // 50), dim, rng)
    vectors = clustered(n, rng, around, spread)
    namespaces = np.arange(n) % tenants
    schema = f"stepcache_scale_{n}_{tenants}"
    _drop_schema(url, schema)
    results: list[ScaleResult] = []
    try:
        PostgresStore(url, schema=schema, max_size=1).close()  # creates the schema's tables
        started = time.perf_counter()
        _copy(url, schema, vectors, namespaces)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        with _connect(url, schema) as conn:
            # An HNSW build whose graph fits in maintenance_work_mem is several times faster.
            conn.execute("SET maintenance_work_mem = '6GB'")
            conn.execute(hnsw_index_statement(dim, EMBEDDER))
            conn.execute("ANALYZE entries")
        index_seconds = time.perf_counter() - started

        mine = vectors[namespaces == 0]
        mine_ids = np.flatnonzero(namespaces == 0)
        probes = clustered(queries, rng, around, spread)
        truth = [{int(mine_ids[j]) for j in row} for row in _exact_top_k(probes, mine, k)]
        for ef in ef_search:
            with PostgresStore(url, schema=schema, ef_search=ef, max_size=2) as store:
                for probe in probes[:20]:  # warm the pool and the server's caches
                    store.nearest("t0", "m", probe, k, embedder=EMBEDDER)
                latencies: list[float] = []
                hits = 0
                for probe, expected in zip(probes, truth):
                    started = time.perf_counter()
                    found = store.nearest("t0", "m", probe, k, embedder=EMBEDDER)
                    latencies.append((time.perf_counter() - started) * 1000)
                    hits += len({number_of(e) for e, _ in found} & expected)
                put_per_second = 0.0
                if ef == ef_search[-1] and puts:
                    extra = clustered(puts, rng, around, spread)
                    started = time.perf_counter()
                    for i, vector in enumerate(extra, start=n):
                        store.put(synthetic_entry(i, vector, namespace="t0"))
                    put_per_second = puts / (time.perf_counter() - started)
            results.append(
                ScaleResult(
                    measure="postgres",
                    store="postgresql",
                    entries=n,
                    dim=dim,
                    fill_s=round(load_seconds, 1),
                    index_ready_s=round(index_seconds, 1),
                    timings={"nearest": Timing.of(latencies, digits=2)},
                    recall_at_k=round(hits / (len(probes) * k), 4),
                    settings={
                        "k": k,
                        "ef_search": ef,
                        "tenants": tenants,
                        "spread": spread,
                        "put_per_second": round(put_per_second, 1),
                    },
                )
            )
    finally:
        _drop_schema(url, schema)
    return results


def _exact_top_k(probes: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Row indexes of each probe's ``k`` most similar vectors (exact; chunked to bound memory)."""
    out = []
    for chunk in np.array_split(probes, max(1, len(probes) * len(vectors) // 50_000_000)):
        scores = chunk @ vectors.T
        out.append(np.argpartition(-scores, k, axis=1)[:, :k])
    return np.concatenate(out)


def _connect(url: str, schema: str) -> Any:
    import psycopg
    from psycopg import sql

    conn = psycopg.connect(url, autocommit=True)
    conn.execute(sql.SQL("SET search_path = {}, public").format(sql.Identifier(schema)))
    return conn


def _vector_bytes(vector: np.ndarray) -> bytes:
    """pgvector's binary form: dimension, a reserved zero, then big-endian float32s."""
    return struct.pack(">HH", len(vector), 0) + vector.astype(">f4").tobytes()


def _copy(url: str, schema: str, vectors: np.ndarray, namespaces: np.ndarray) -> None:
    columns = (
        "key, namespace, model, family, signature, prompt, task, steps, text, prepared,"
        " format_version, created_at, dim, embedder, embedding"
    )
    now = time.time()
    with _connect(url, schema) as conn, conn.transaction(), conn.cursor() as cur:
        with cur.copy(f"COPY entries ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            # The embedding goes as bytes already in pgvector's wire format (the server reads it as vector).
            copy.set_types(
                ["text", "text", "text", "text", "text", "text", "json", "text[]", "text", "json",
                 "int4", "float8", "int4", "text", "bytea"]
            )  # fmt: skip
            for i, vector in enumerate(vectors):
                e = synthetic_entry(i, vector, namespace=f"t{namespaces[i]}")
                copy.write_row(
                    (e.key, e.scope.namespace, e.scope.model, e.scope.family, e.signature, e.prompt,
                     json.dumps(e.task), list(e.steps), e.text, json.dumps(e.prepared), e.format_version,
                     now + i * 1e-6, len(vector), e.embedder, _vector_bytes(vector))
                )  # fmt: skip
        # What put() records besides the row, so that a size cap sees (and can evict) these entries too.
        cur.execute(
            "INSERT INTO entry_use (id, last_used, size) SELECT id, created_at, octet_length(prompt)"
            " + octet_length(task::text) + octet_length(array_to_json(steps)::text) + octet_length(text)"
            " + octet_length(prepared::text) + 4 * dim FROM entries ON CONFLICT (id) DO NOTHING"
        )


def _drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
