"""Scale measurement of the PostgreSQL store (a benchmark, not a test).

    python -m stepcache.store._pg_scale postgresql://postgres@127.0.0.1:55432/stepcache_test 10000 100000

For each size N it bulk-loads N synthetic entries with ``COPY`` into a fresh schema, builds the HNSW
index (timed), then measures :meth:`PostgresStore.nearest` latency (p50/p99, end to end through the
pool and the Entry decoding) and recall@k against exact search, plus the throughput of ordinary
``put`` calls. Synthetic embeddings are drawn around a few thousand cluster centres so that, like
real sentence embeddings, they have neighbours worth finding; queries are fresh draws (not stored
points), which is the harder case for an approximate index.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
import numpy as np

from .._types import FORMAT_VERSION, Entry, Scope, TokenUsage
from .postgres import PostgresStore, hnsw_index_statement

__all__ = ["ScaleResult", "measure"]


@dataclass(frozen=True)
class ScaleResult:
    entries: int
    dim: int
    tenants: int
    load_seconds: float
    index_seconds: float
    p50_ms: float
    p99_ms: float
    recall: float
    k: int
    ef_search: int
    spread: float
    put_per_second: float


def synthetic(
    n: int, dim: int, rng: np.random.Generator, centres: np.ndarray, spread: float = 0.6
) -> np.ndarray:
    """``n`` unit vectors scattered around ``centres`` (noise of norm ~``spread`` around unit centres)."""
    picks = rng.integers(0, len(centres), n)
    points = centres[picks] + rng.standard_normal((n, dim), dtype=np.float32) * spread / np.sqrt(dim)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    unit: np.ndarray = points.astype(np.float32)
    return unit


def measure(
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
    centres = rng.standard_normal((max(16, n // 50), dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = synthetic(n, dim, rng, centres, spread)
    namespaces = np.arange(n) % tenants
    schema = f"stepcache_scale_{n}_{tenants}"
    _drop_schema(url, schema)
    results: list[ScaleResult] = []
    try:
        with PostgresStore(url, schema=schema, max_size=2) as store:
            started = time.perf_counter()
            _copy(store, vectors, namespaces)
            load_seconds = time.perf_counter() - started
            started = time.perf_counter()
            with store._connection("index") as conn:
                # An HNSW build whose graph fits in maintenance_work_mem is several times faster.
                conn.execute("SET maintenance_work_mem = '6GB'")
                conn.execute(hnsw_index_statement(dim))
                conn.execute("ANALYZE entries")
            index_seconds = time.perf_counter() - started

        mine = vectors[namespaces == 0]
        mine_ids = np.flatnonzero(namespaces == 0)
        probes = synthetic(queries, dim, rng, centres, spread)
        truth = [{int(mine_ids[j]) for j in row} for row in _exact_top_k(probes, mine, k)]
        for ef in ef_search:
            with PostgresStore(url, schema=schema, ef_search=ef, max_size=2) as store:
                for probe in probes[:20]:  # warm the pool and the server's caches
                    store.nearest("t0", "m", probe, k)
                latencies: list[float] = []
                hits = 0
                for probe, expected in zip(probes, truth):
                    started = time.perf_counter()
                    found = store.nearest("t0", "m", probe, k)
                    latencies.append(time.perf_counter() - started)
                    hits += len({int(e.key[1:]) for e, _ in found} & expected)
                put_per_second = 0.0
                if ef == ef_search[-1] and puts:
                    extra = synthetic(puts, dim, rng, centres, spread)
                    started = time.perf_counter()
                    for i, vector in enumerate(extra):
                        store.put(_entry(f"p{i}", "t0", vector))
                    put_per_second = puts / (time.perf_counter() - started)
            ms = np.array(latencies) * 1000
            results.append(
                ScaleResult(
                    entries=n,
                    dim=dim,
                    tenants=tenants,
                    load_seconds=round(load_seconds, 1),
                    index_seconds=round(index_seconds, 1),
                    p50_ms=round(float(np.percentile(ms, 50)), 2),
                    p99_ms=round(float(np.percentile(ms, 99)), 2),
                    recall=round(hits / (len(probes) * k), 4),
                    k=k,
                    ef_search=ef,
                    spread=spread,
                    put_per_second=round(put_per_second, 1),
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


def _entry(key: str, namespace: str, vector: np.ndarray) -> Entry:
    return Entry(
        key=key,
        scope=Scope(namespace, "m", "linear"),
        signature="sig",
        prompt=f"prompt {key}",
        task={"n": key},
        steps=("step one", "step two"),
        text="answer",
        embedding=vector,
        cost=TokenUsage(10, 20),
    )


def _copy(store: PostgresStore, vectors: np.ndarray, namespaces: np.ndarray) -> None:
    columns = (
        "key, namespace, model, family, signature, prompt, task, steps, text, prepared,"
        " format_version, created_at, dim, embedding"
    )
    now = time.time()
    with store._connection("copy") as conn, conn.transaction(), conn.cursor() as cur:
        with cur.copy(f"COPY entries ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(
                ["text", "text", "text", "text", "text", "text", "json", "text[]", "text", "json",
                 "int4", "float8", "int4", store._vector_oid]
            )  # fmt: skip
            for i, vector in enumerate(vectors):
                copy.write_row(
                    (f"e{i}", f"t{namespaces[i]}", "m", "linear", f"sig{i % 997}", f"prompt {i}",
                     json.dumps({"n": i}), ["step one", "step two"], "answer", "{}",
                     FORMAT_VERSION, now + i * 1e-6, vector.shape[0], vector)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[40, 64, 100])
    parser.add_argument("--tenants", type=int, default=1)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--spread", type=float, default=0.6, help="cluster noise; larger is harder")
    args = parser.parse_args(argv)
    for n in args.sizes:
        for result in measure(args.url, n, dim=args.dim, k=args.k, ef_search=tuple(args.ef_search),
                              tenants=args.tenants, queries=args.queries, spread=args.spread):  # fmt: skip
            print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
