"""A small load generator for the proxy's reuse path: added latency and throughput over loopback.

    stepcache bench loadgen                                 # starts its own proxy in a subprocess
    stepcache bench loadgen --url http://127.0.0.1:8000 --concurrency 32

The self-hosted proxy answers from a scripted backend, warmed with one linear equation, and the load
is look-alike equations with other constants: every request is a cache ``reuse`` (retrieve by
signature, adapt, verify, respond) and none reaches a model, so the latency measured end to end is
what the proxy itself adds. Latency is measured with one client sending requests back to back;
throughput with ``--concurrency`` clients. Results are printed as JSON. Not a test: numbers depend
on the machine.

The default client is a minimal keep-alive HTTP/1.1 client over asyncio streams (one connection per
simulated client, request bytes built up front), because the generator shares the machine with the
proxy: httpx costs ~2 ms of CPU per request, more than the proxy itself, and on a 2-core machine it
capped the measured throughput. ``--client httpx`` keeps the old client for comparison. The
generator's own CPU per request is reported next to the proxy's.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from stepcache import ScriptedBackend, StepCache, open_store

from ._processes import free_port, python_process
from .imperfect import ImperfectModel
from .stats import percentile

__all__ = ["loadgen_cache", "run_load", "run_loadgen", "serve"]


def _prompt(rng: random.Random) -> str:
    a, b, k = rng.randint(2, 9), rng.randint(1, 40), rng.randint(1, 30)
    return f"Solve {a}x + {b} = {a * k + b}"


def loadgen_cache(store: str = "memory://") -> StepCache:
    """The self-hosted proxy's cache: a scripted backend that solves ``ax + b = c`` like a good model
    (the imperfect model, never wrong)."""
    return StepCache(ScriptedBackend(responder=ImperfectModel(error_rate=0.0)), store=open_store(store))


def serve(port: int, workers: int, store: str) -> None:  # pragma: no cover - runs in the subprocess
    """The self-hosted proxy on 127.0.0.1:``port``, until terminated."""
    from stepcache.server import ServerSettings, run, run_workers

    settings = ServerSettings(port=port, log_level="warning")
    if workers > 1:
        run_workers(f"{__name__}:loadgen_cache", settings, workers=workers, factory_kwargs={"store": store})
        return
    with loadgen_cache(store) as cache:
        run(cache, settings)


def _summary(latencies: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in latencies]
    return {
        "median_ms": round(statistics.median(ms), 3),
        "p90_ms": round(percentile(ms, 0.90), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of process ``pid`` and its children (uvicorn's workers), on Linux, to
    report the proxy's cost per request."""
    if pid is None:
        return None
    total, found = 0.0, False
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            found = True
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total if found else None


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for this benchmark:
    the proxy answers every request with a ``Content-Length`` body."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> _Connection:
        parsed = urlsplit(url)
        reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port or 80)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, dict[str, str]]:
        """Status and (lower-cased) headers; the body is read and dropped."""
        self.writer.write(raw)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise RuntimeError(f"the raw load-generator client needs Content-Length responses, got {headers}")
        await self.reader.readexactly(int(headers["content-length"]))
        return status, headers

    def close(self) -> None:
        self.writer.close()


def _raw_request(url: str, method: str, path: str, body: bytes = b"") -> bytes:
    parsed = urlsplit(url)
    head = f"{method} {parsed.path.rstrip('/')}{path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nAuthorization: Bearer loadgen\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def _chat_body(prompt: str) -> bytes:
    return json.dumps({"model": "loadgen", "messages": [{"role": "user", "content": prompt}]}).encode()


async def run_load(
    url: str,
    *,
    requests: int,
    concurrency: int,
    latency_samples: int,
    seed: int = 0,
    server_pid: int | None = None,
    client: Literal["raw", "httpx"] = "raw",
) -> dict[str, Any]:
    """Warm the cache, then measure sequential latency and concurrent throughput of ``url``."""
    rng = random.Random(seed)
    url = url.rstrip("/")
    paths: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    Send = Callable[[str | None], Awaitable[int]]  # a chat prompt, or None for /healthz → status

    if client == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        pool = httpx.AsyncClient(timeout=30, limits=limits, headers={"Authorization": "Bearer loadgen"})

        async def open_sender() -> Send:
            async def send(prompt: str | None) -> int:
                if prompt is None:
                    return (await pool.get(url + "/healthz")).status_code
                response = await pool.post(url + "/v1/chat/completions", content=_chat_body(prompt))
                paths[response.headers.get("x-stepcache-path", "none")] += 1
                return response.status_code

            return send

    else:
        connections: list[_Connection] = []
        health_request = _raw_request(url, "GET", "/healthz")

        async def open_sender() -> Send:
            conn = await _Connection.open(url)
            connections.append(conn)

            async def send(prompt: str | None) -> int:
                if prompt is None:
                    return (await conn.send(health_request))[0]
                status, headers = await conn.send(_raw_request(url, "POST", "/v1/chat/completions", _chat_body(prompt)))
                paths[headers.get("x-stepcache-path", "none")] += 1
                return status

            return send

    async def timed(send: Send, prompt: str | None) -> float:
        start = time.perf_counter()
        status = await send(prompt)
        elapsed = time.perf_counter() - start
        if status != 200:
            errors[f"HTTP {status}"] += 1
        return elapsed

    try:
        first = await open_sender()
        await timed(first, "Solve 3x + 5 = 20")  # the one miss: everything after it adapts this entry
        for _ in range(50):
            await timed(first, _prompt(rng))
        health = [await timed(first, None) for _ in range(200)]
        paths.clear()

        sequential = [await timed(first, _prompt(rng)) for _ in range(latency_samples)]

        senders = [first, *[await open_sender() for _ in range(concurrency - 1)]]
        queue: asyncio.Queue[str] = asyncio.Queue()
        for _ in range(requests):
            queue.put_nowait(_prompt(rng))
        loaded: list[float] = []

        async def worker(send: Send) -> None:
            while not queue.empty():
                loaded.append(await timed(send, queue.get_nowait()))

        cpu_before, own_before = _cpu_seconds(server_pid), time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(worker(send) for send in senders))
        elapsed = time.perf_counter() - start
        cpu_after, own_after = _cpu_seconds(server_pid), time.process_time()

        # The floor: the same load on the trivial /healthz route (HTTP server + routing only).
        remaining = [requests]

        async def health_worker(send: Send) -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await timed(send, None)

        floor_cpu_before = _cpu_seconds(server_pid)
        floor_start = time.perf_counter()
        await asyncio.gather(*(health_worker(send) for send in senders))
        floor_elapsed = time.perf_counter() - floor_start
        floor_cpu_after = _cpu_seconds(server_pid)
    finally:
        if client == "httpx":
            await pool.aclose()
        else:
            for conn in connections:
                conn.close()

    return {
        "url": url,
        "reuse_latency_one_client": _summary(sequential),
        "healthz_latency_one_client": _summary(health),
        "throughput": {
            "concurrency": concurrency,
            "requests": requests,
            "seconds": round(elapsed, 3),
            "requests_per_second": round(requests / elapsed, 1),
            "latency_under_load": _summary(loaded),
            "proxy_cpu_ms_per_request": None
            if cpu_before is None or cpu_after is None
            else round((cpu_after - cpu_before) * 1000 / requests, 3),
            # The generator's own process (it includes the proxy when that runs in-process, as in tests).
            "client_cpu_ms_per_request": round((own_after - own_before) * 1000 / requests, 3),
        },
        "healthz_throughput": {
            "requests_per_second": round(requests / floor_elapsed, 1),
            "proxy_cpu_ms_per_request": None
            if floor_cpu_before is None or floor_cpu_after is None
            else round((floor_cpu_after - floor_cpu_before) * 1000 / requests, 3),
        },
        "client": client,
        "paths": dict(paths),
        "errors": dict(errors),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def run_loadgen(
    url: str | None = None,
    *,
    requests: int = 3000,
    concurrency: int = 32,
    latency_samples: int = 1000,
    client: Literal["raw", "httpx"] = "raw",
    workers: int = 1,
    store: str | None = None,
) -> dict[str, Any]:
    """:func:`run_load` against ``url``, or against a proxy of its own (``workers`` processes on ``store``:
    default memory://, or a temporary SQLite file for several workers) started for the run."""
    if url is not None:
        return asyncio.run(
            run_load(url, requests=requests, concurrency=concurrency, latency_samples=latency_samples, client=client)
        )
    with tempfile.TemporaryDirectory(prefix="stepcache-loadgen-") as scratch, ExitStack() as stack:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        store = store or ("memory://" if workers == 1 else f"sqlite:///{scratch}/cache.db")
        proc = stack.enter_context(
            python_process(
                f"from stepcache_bench.loadgen import serve; serve({port}, {workers}, {store!r})",
                ready_url=url + "/healthz",
                name="proxy",
            )
        )
        return asyncio.run(
            run_load(
                url,
                requests=requests,
                concurrency=concurrency,
                latency_samples=latency_samples,
                server_pid=proc.pid,
                client=client,
            )
        )
