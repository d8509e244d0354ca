"""Measure what audit sampling reports when the upstream disagrees on a known share of audited answers.

    .venv/bin/python scripts/audit_disagreement.py [--requests 600] [--audit-rate 0.5] [--disagree 0.2] [--seed 1]

A fake upstream answers look-alike requests (JSON records of people, linear equations) correctly on
the request path. When it is asked by an audit (audits run on StepCache's background threads, the
requests on this script's main thread), it deviates on a known share of calls: for a JSON record it
names another occupation (the request does not state one, so no verifier can check it and the answer
still verifies: a disagreement); for an equation it gives a wrong value (which fails verification:
inconclusive). The script prints what
StepCache measured next to what the fake upstream did. Only StepCache's public API is used.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import threading
import time

from stepcache import BackendRequest, CacheConfig, MemoryStore, Route, ScriptedBackend, StepCache

NAMES = ["Alice", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Keiko", "Liam"]
CITIES = ["Paris", "Oslo", "Lima", "Cairo", "Quito", "Hanoi", "Dakar", "Turin", "Porto", "Austin", "Leeds", "Kyoto"]
JOBS = ["teacher", "pilot", "baker", "nurse", "judge", "welder", "farmer", "surgeon"]
PERSON = re.compile(r"person (\w+), age (\d+), who lives in (\w+)")
EQUATION = re.compile(r"Solve (\d+)x \+ (\d+) = (\d+)")


class DisagreeingUpstream:
    """Right on the request path; on audit calls, wrong on a known share (``disagree``) of them."""

    def __init__(self, disagree: float, seed: int) -> None:
        self.disagree = disagree
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.audit_calls = {"json": 0, "linear": 0}
        self.deviated = {"json": 0, "linear": 0}

    def __call__(self, request: BackendRequest) -> str:
        prompt = "\n".join(m["content"] for m in request.messages if m["role"] == "user")
        family = "json" if PERSON.search(prompt) else "linear"
        deviate = False
        if threading.current_thread() is not threading.main_thread():  # an audit
            with self.lock:
                deviate = self.rng.random() < self.disagree
                self.audit_calls[family] += 1
                self.deviated[family] += deviate
        if family == "json":
            name, age, city = PERSON.search(prompt).groups()  # type: ignore[union-attr]
            job = JOBS[(NAMES.index(name) + (1 if deviate else 0)) % len(JOBS)]  # the truth: one job per name
            return json.dumps({"name": name, "age": int(age), "city": city, "occupation": job})
        a, b, c = (int(g) for g in EQUATION.search(prompt).groups())  # type: ignore[union-attr]
        x = (c - b) // a + (1 if deviate else 0)
        return f"1. {a}x + {b} = {c}\n2. {a}x = {c - b}\n3. x = {x}"


def workload(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    prompts = []
    for _ in range(n):
        if rng.random() < 0.6:
            name, city = rng.choice(NAMES), rng.choice(CITIES)
            prompts.append(
                f"Return a JSON object for the person {name}, age {rng.randint(18, 90)}, who lives in {city}. "
                "Required keys: name, age, city, occupation."
            )
        else:
            a, x, b = rng.randint(2, 9), rng.randint(1, 20), rng.randint(1, 30)
            prompts.append(f"Solve {a}x + {b} = {a * x + b}")
    return prompts


def median_reuse_ms(audit_rate: float, prompts: list[str], seed: int) -> float:
    """Median time of a reuse answered by ``complete()``, with audits at ``audit_rate``."""
    upstream = DisagreeingUpstream(0.0, seed)
    cache = StepCache(
        ScriptedBackend(responder=upstream), config=CacheConfig(audit_rate=audit_rate, audit_queue=100_000)
    )
    times = []
    for prompt in prompts:
        start = time.perf_counter()
        result = cache.complete({"messages": [{"role": "user", "content": prompt}]})
        if result.path is Route.REUSE:
            times.append(time.perf_counter() - start)
    cache.close()
    return 1000 * sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--audit-rate", type=float, default=0.5)
    parser.add_argument(
        "--disagree", type=float, default=0.2, help="share of audit calls the upstream answers differently"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="show StepCache's log of each disagreement")
    args = parser.parse_args()
    if not args.verbose:
        logging.getLogger("stepcache").setLevel(logging.ERROR)

    upstream = DisagreeingUpstream(args.disagree, args.seed)
    cache = StepCache(
        ScriptedBackend(responder=upstream),
        store=MemoryStore(),
        config=CacheConfig(audit_rate=args.audit_rate, audit_queue=100_000),
        audit_rng=random.Random(args.seed),
    )
    paths: dict[str, int] = {}
    prompts = workload(args.requests, args.seed)
    for prompt in prompts:
        result = cache.complete({"messages": [{"role": "user", "content": prompt}]})
        paths[result.path.value] = paths.get(result.path.value, 0) + 1
        # One audit at a time, before the next request: a quarantine then takes effect at the same
        # point on every run, so a seed gives the same numbers (the latency runs below do not wait).
        assert cache.audits.join(timeout=120), "audits did not finish"
    stats = cache.store.stats()
    cache.close()

    print(f"requests: {args.requests}  paths: {dict(sorted(paths.items()))}  audit rate: {args.audit_rate}")
    off, on = median_reuse_ms(0.0, prompts, args.seed), median_reuse_ms(args.audit_rate, prompts, args.seed)
    print(
        f"median reuse latency of complete(): {off:.2f} ms without audits, {on:.2f} ms with audits at {args.audit_rate}"
    )
    print(
        f"{'family':<8} {'audit calls':>11} {'deviated':>9} {'agree':>6} {'disagree':>9} {'inconcl.':>9}  "
        f"{'upstream deviated':>17}  {'measured disagreement':>21}"
    )
    for family in ("json", "linear"):
        counts = stats.audits.get(family, {})
        calls, deviated = upstream.audit_calls[family], upstream.deviated[family]
        rate = stats.disagreement_rate(family)
        print(
            f"{family:<8} {calls:>11} {deviated:>9} {counts.get('agree', 0):>6} {counts.get('disagree', 0):>9} "
            f"{counts.get('inconclusive', 0):>9}  {100 * deviated / max(calls, 1):>16.1f}%  "
            f"{'-' if rate is None else f'{100 * rate:.1f}%':>21}"
        )
    print(f"quarantined entries: {stats.quarantined_by_family}  dropped audits: {cache.audits.dropped}")
    audits = sum(upstream.audit_calls.values())
    reused = paths.get("reuse", 0) + paths.get("patch", 0)
    print(
        f"upstream tokens: serving {stats.tokens_spent}, audits {stats.audit_tokens.total} "
        f"({audits} audits of {reused} reused answers = {audits / max(reused, 1):.3f}, "
        f"{stats.audit_tokens.total / max(audits, 1):.0f} tokens each)"
    )


if __name__ == "__main__":
    main()
