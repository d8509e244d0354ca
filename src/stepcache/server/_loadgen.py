"""A small load generator for the proxy's reuse path: added latency and throughput over loopback.

    python -m stepcache.server._loadgen                       # starts its own proxy in a subprocess
    python -m stepcache.server._loadgen --url http://127.0.0.1:8000 --concurrency 32

The self-hosted proxy answers from a scripted backend, warmed with one linear equation, and the load
is look-alike equations with other constants: every request is a cache ``reuse`` (retrieve by
signature, adapt, verify, respond) and none reaches a model, so the latency measured end to end is
what the proxy itself adds. Latency is measured with one client sending requests back to back;
throughput with ``--concurrency`` clients. Results are printed as JSON. Not a test: numbers depend
on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from fractions import Fraction
from typing import Any

import httpx

__all__ = ["main", "run_load"]

_EQUATION = re.compile(r"(\d+)x \+ (\d+) = (\d+)")


def _solve(prompt: str) -> str:
    """What a perfect model would answer to ``Solve ax + b = c``: the scripted backend's responder."""
    m = _EQUATION.search(prompt)
    if m is None:
        return "I can only solve equations of the form ax + b = c."
    a, b, c = (int(g) for g in m.groups())
    return f"1. {a}x + {b} = {c}\n2. {a}x = {c - b}\n3. x = {Fraction(c - b, a)}"


def _prompt(rng: random.Random) -> str:
    a, b, k = rng.randint(2, 9), rng.randint(1, 40), rng.randint(1, 30)
    return f"Solve {a}x + {b} = {a * k + b}"


def _serve(port: int) -> None:  # pragma: no cover - runs in the subprocess
    from .._engine import StepCache
    from ..backends import ScriptedBackend
    from ..store.memory import MemoryStore
    from . import ServerSettings, run

    backend = ScriptedBackend(responder=lambda request: _solve(request.messages[-1]["content"]))
    with StepCache(backend, store=MemoryStore()) as cache:
        run(cache, ServerSettings(port=port, log_level="warning"))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(latencies: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in latencies]
    return {
        "median_ms": round(statistics.median(ms), 3),
        "p90_ms": round(_percentile(ms, 0.90), 3),
        "p99_ms": round(_percentile(ms, 0.99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of process ``pid`` (Linux), to report the proxy's cost per request."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_load(
    url: str, *, requests: int, concurrency: int, latency_samples: int, seed: int = 0, server_pid: int | None = None
) -> dict[str, Any]:
    """Warm the cache, then measure sequential latency and concurrent throughput of ``url``."""
    rng = random.Random(seed)
    endpoint = url.rstrip("/") + "/v1/chat/completions"
    headers = {"Authorization": "Bearer loadgen"}
    paths: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits, headers=headers) as client:

        async def one(prompt: str) -> float:
            body = {"model": "loadgen", "messages": [{"role": "user", "content": prompt}]}
            start = time.perf_counter()
            response = await client.post(endpoint, json=body)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                errors[f"HTTP {response.status_code}"] += 1
            paths[response.headers.get("x-stepcache-path", "none")] += 1
            return elapsed

        await one("Solve 3x + 5 = 20")  # the one miss: everything after it adapts this entry
        for _ in range(50):
            await one(_prompt(rng))
        health = []
        for _ in range(200):
            start = time.perf_counter()
            await client.get(url.rstrip("/") + "/healthz")
            health.append(time.perf_counter() - start)
        paths.clear()

        sequential = [await one(_prompt(rng)) for _ in range(latency_samples)]

        prompts = [_prompt(rng) for _ in range(requests)]
        queue: asyncio.Queue[str] = asyncio.Queue()
        for p in prompts:
            queue.put_nowait(p)
        loaded: list[float] = []

        async def worker() -> None:
            while not queue.empty():
                loaded.append(await one(queue.get_nowait()))

        cpu_before = _cpu_seconds(server_pid)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        cpu_after = _cpu_seconds(server_pid)

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
        },
        "paths": dict(paths),
        "errors": dict(errors),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the proxy subprocess exited with code {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the proxy at {url} did not become healthy in {deadline:g}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stepcache.server._loadgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running proxy (default: start one in a subprocess)")
    parser.add_argument("--requests", type=int, default=3000, help="requests in the throughput run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-samples", type=int, default=1000, help="sequential requests for latency")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the subprocess
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve)
        return 0
    proc: subprocess.Popen[bytes] | None = None
    url = args.url
    if url is None:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([sys.executable, "-m", "stepcache.server._loadgen", "--serve", str(port)])
        _wait_healthy(url, proc)
    try:
        report = asyncio.run(
            run_load(
                url,
                requests=args.requests,
                concurrency=args.concurrency,
                latency_samples=args.latency_samples,
                server_pid=None if proc is None else proc.pid,
            )
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    print(json.dumps(report, indent=2))
    return 0 if not report["errors"] else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
