"""Time to first token (issue 13): straight to a streaming model vs through the StepCache proxy.

    stepcache bench ttft                                  # 30 requests per scenario, 20 ms a token
    stepcache bench ttft -n 5 --token-delay-ms 10 --out /tmp/ttft

Three processes, so that none waits on another's GIL: the fake model (:mod:`._ttft_upstream`: a word
per chunk, ``--token-delay-ms`` apart, answers computed from the prompt so they verify), the proxy
(``StepCache(OpenAIHTTPBackend(fake), store=MemoryStore())`` under ``stepcache.server.run``) and this
client (httpx, one keep-alive connection to each). Every request is sent twice, one after the other:
through the proxy, then the same body straight to the fake. Scenarios, ``-n`` requests each, sequential,
each proxy request with its own API key (so its own cache namespace: a miss stays a miss):

* ``bypass`` — prose at temperature 0.7 (relayed byte for byte);
* ``generic-miss`` — prose at temperature 0 (streamed as the model writes it);
* ``linear-miss`` — ``Solve ax + b = c`` (each step once its line is complete and verified);
* ``linear-miss-failing-step`` — the same with the model slipping at step 2 on its first answer (the
  proxy cuts the stream there and repairs with a second, non-streamed call);
* ``json-miss`` — ``response_format: json_object`` (sent whole once it verifies);
* ``reuse`` — look-alike equations after one warm-up request in the same namespace (direct: the model
  answering the same request).

Measured per request: TTFT = from just before the request is sent to the first non-empty content delta;
the gaps between content deltas; and the *lag* = the moment the client got its first text minus the
moment the fake handed over the chunk that text needs (the first chunk; for steps the chunk that ends the
first line; for JSON the last chunk). ``time.monotonic`` is one clock for all processes on Linux. Results:
``report.md``, ``report.json`` and ``requests.jsonl`` under ``--out`` (default ``docs/bench/ttft``). Not a
test: numbers depend on the machine.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ._processes import free_port, python_process
from ._ttft_upstream import json_answer, prose, solve
from .runner import stepcache_version
from .stats import percentile

__all__ = [
    "SCENARIOS",
    "TARGETS_MS",
    "chat_body",
    "prompts",
    "read_stream",
    "run_ttft",
    "render_markdown",
    "write_outputs",
    "summary_lines",
    "serve_proxy",
]

SCENARIOS = ("bypass", "generic-miss", "linear-miss", "linear-miss-failing-step", "json-miss", "reuse")
#: Issue 13: extra TTFT through the proxy (bypass, generic), first step after the model wrote it (linear), reuse TTFT.
TARGETS_MS = {"extra_ttft": 20.0, "first_step_lag": 20.0, "reuse_ttft": 5.0}
#: Inter-chunk gaps count as unchanged when the medians differ by at most this much (ms) or share of direct's.
GAP_TOLERANCE = (2.0, 0.10)
PERCENTILES = "linear interpolation between closest ranks (numpy's default; stepcache_bench.stats.percentile)"
_MODEL = "fake-model"
#: The reuse scenario's one model answer: every measured request is a look-alike of it.
REUSE_WARM = "Solve 3x + 5 = 20"


# -- one request, read as a client reads it ---------------------------------------------------------------


@dataclass
class Sample:
    """One streamed answer as the client saw it."""

    sent_at: float
    done_at: float
    path: str | None  # the proxy's x-stepcache-path header; None straight from the model
    pieces: list[str] = field(default_factory=list)  # non-empty content deltas
    at: list[float] = field(default_factory=list)  # monotonic time each piece was read

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def ttft_s(self) -> float:
        return self.at[0] - self.sent_at

    def gaps_s(self) -> list[float]:
        return [b - a for a, b in zip(self.at, self.at[1:])]


def read_stream(client: httpx.Client, url: str, body: dict[str, Any], key: str) -> Sample:
    """Send ``body`` to ``url``'s chat completions and read the SSE answer, timing each content delta."""
    sent_at = time.monotonic()
    with client.stream(
        "POST", url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered HTTP {response.status_code}: {response.read()[:300]!r}")
        sample = Sample(sent_at, sent_at, response.headers.get("x-stepcache-path"))
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            if "error" in event:
                raise RuntimeError(f"{url} sent an error event: {event['error']}")
            text = "".join((c.get("delta") or {}).get("content") or "" for c in event.get("choices") or [])
            if text:
                sample.at.append(time.monotonic())
                sample.pieces.append(text)
    sample.done_at = time.monotonic()
    if not sample.pieces:
        raise RuntimeError(f"{url} streamed no text for {body['messages'][-1]['content']!r}")
    return sample


# -- the scenarios' requests ---------------------------------------------------------------------------


def prompts(scenario: str, n: int, rng: random.Random) -> list[str]:
    """``n + 1`` distinct prompts for ``scenario`` (the first for the warm-up pair)."""
    if scenario in ("bypass", "generic-miss"):
        return [f"Write a few sentences about lighthouse number {i} on the northern coast." for i in range(n + 1)]
    if scenario == "json-miss":
        return [
            f"Return a JSON object with keys city and year: the city is Lyon and the year is {1900 + i}."
            for i in range(n + 1)
        ]
    out: list[str] = []
    while len(out) < n + 1:
        a, b, k = rng.randint(2, 9), rng.randint(1, 40), rng.randint(1, 30)
        prompt = f"Solve {a}x + {b} = {a * k + b}"
        if prompt not in out and prompt != REUSE_WARM:  # a repeat would be answered differently
            out.append(prompt)
    return out


def chat_body(scenario: str, prompt: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": _MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.7 if scenario == "bypass" else 0,
    }
    if scenario == "json-miss":
        body["response_format"] = {"type": "json_object"}
    return body


def _right(scenario: str, prompt: str, text: str) -> bool:
    """Is ``text`` a right answer to ``prompt`` (what the fake, which is never wrong twice, would end with)?"""
    if scenario in ("bypass", "generic-miss"):
        return text.strip() == prose(prompt).strip()
    if scenario == "json-miss":
        try:
            return bool(json.loads(text) == json.loads(json_answer(prompt)))
        except ValueError:
            return False
    solved = solve(prompt)
    return solved is not None and text.rstrip().endswith(solved.splitlines()[-1].split(". ", 1)[1])


def _shows_wrong_step(prompt: str, text: str) -> bool:
    slip = (solve(prompt, wrong_step=True) or "").splitlines()[1].split(". ", 1)[1]
    return any(re.sub(r"^\d+\.\s*", "", line).strip() == slip for line in text.splitlines())


# -- the fake model's records ----------------------------------------------------------------------------


class Upstream:
    """The bench's handle on the fake model's control routes."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.client, self.url, self.seen = client, url, 0

    def new_calls(self) -> list[dict[str, Any]]:
        """The calls answered since the last look."""
        calls: list[dict[str, Any]] = self.client.get(self.url + "/bench/calls", params={"after": self.seen}).json()
        if calls:
            self.seen = calls[-1]["id"]
        return calls

    def wrong_step(self, on: bool) -> None:
        self.client.post(self.url + "/bench/settings", json={"wrong_step": on}).raise_for_status()


def _needed_at(scenario: str, call: dict[str, Any]) -> float:
    """When the fake handed over the chunk the first text sent to the client needs."""
    chunks = call["chunks"]
    if scenario == "json-miss":
        return float(chunks[-1][0])
    if scenario.startswith("linear"):
        return float(next(t for t, piece in chunks if "\n" in piece))
    return float(chunks[0][0])


def _direct_lag(scenario: str, sample: Sample, call: dict[str, Any]) -> float:
    """The same lag straight from the model: the client's piece k is the fake's chunk k."""
    k = 0
    if scenario == "json-miss":
        k = len(sample.pieces) - 1
    elif scenario.startswith("linear"):
        k = next(i for i, piece in enumerate(sample.pieces) if "\n" in piece)
    return sample.at[k] - float(call["chunks"][k][0])


# -- running ------------------------------------------------------------------------------------------


@dataclass
class RequestRecord:
    """One request of a scenario, through the proxy and direct (times in ms)."""

    prompt: str
    path: str | None
    first_text: str  # the proxy's first content delta
    proxy_ttft_ms: float
    direct_ttft_ms: float
    proxy_total_ms: float
    direct_total_ms: float
    proxy_lag_ms: float | None  # first text at the client − the fake wrote what it needs
    direct_lag_ms: float | None
    proxy_gaps_ms: list[float]
    direct_gaps_ms: list[float]
    upstream_calls: int  # model calls the proxy made for this request
    upstream_streams_cut: int  # of them, streams that ended before the model had finished
    right: bool  # the proxy's answer is right
    wrong_step_shown: bool  # the model's slip reached the client (failing-step scenario)


def run_scenario(
    scenario: str, n: int, proxy_url: str, upstream: Upstream, client: httpx.Client, rng: random.Random
) -> list[RequestRecord]:
    """``n`` measured requests of ``scenario`` (after one unmeasured pair that warms its code paths)."""
    upstream.wrong_step(scenario == "linear-miss-failing-step")
    records: list[RequestRecord] = []
    try:
        reuse_key = "sk-ttft-reuse"
        if scenario == "reuse":
            read_stream(client, proxy_url, chat_body(scenario, REUSE_WARM), reuse_key)
        for i, prompt in enumerate(prompts(scenario, n, rng), -1):  # -1: the warm-up pair
            body = chat_body(scenario, prompt)
            key = reuse_key if scenario == "reuse" else f"sk-ttft-{scenario}-{i}"
            upstream.new_calls()
            proxied = read_stream(client, proxy_url, body, key)
            calls = upstream.new_calls()
            direct = read_stream(client, upstream.url, body, "sk-ttft-direct")
            direct_call = upstream.new_calls()[-1]
            if i < 0:
                continue
            streamed = [c for c in calls if c["stream"]]
            needs_model = scenario != "reuse"
            records.append(
                RequestRecord(
                    prompt=prompt,
                    path=proxied.path,
                    first_text=proxied.pieces[0],
                    proxy_ttft_ms=_ms(proxied.ttft_s),
                    direct_ttft_ms=_ms(direct.ttft_s),
                    proxy_total_ms=_ms(proxied.done_at - proxied.sent_at),
                    direct_total_ms=_ms(direct.done_at - direct.sent_at),
                    proxy_lag_ms=_ms(proxied.at[0] - _needed_at(scenario, streamed[0]))
                    if needs_model and streamed
                    else None,
                    direct_lag_ms=_ms(_direct_lag(scenario, direct, direct_call)) if needs_model else None,
                    proxy_gaps_ms=[_ms(g) for g in proxied.gaps_s()],
                    direct_gaps_ms=[_ms(g) for g in direct.gaps_s()],
                    upstream_calls=len(calls),
                    upstream_streams_cut=sum(_cut(c) for c in streamed),
                    right=_right(scenario, prompt, proxied.text),
                    wrong_step_shown=scenario.startswith("linear") and _shows_wrong_step(prompt, proxied.text),
                )
            )
    finally:
        upstream.wrong_step(False)
    return records


def _cut(call: dict[str, Any]) -> bool:
    """Did this stream end before the model had written its whole answer?"""
    return bool(call["end"] != "done" or "".join(piece for _, piece in call["chunks"]) != call["text"])


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def summarise(scenario: str, records: Sequence[RequestRecord]) -> dict[str, Any]:
    """Percentiles and medians of one scenario's records."""

    def pcts(values: Sequence[float]) -> dict[str, float] | None:
        return {"p50": round(percentile(values, 0.5), 2), "p95": round(percentile(values, 0.95), 2)} if values else None

    def median(values: Sequence[float]) -> float | None:
        return round(statistics.median(values), 2) if values else None

    streams_text = scenario in ("bypass", "generic-miss")
    return {
        "scenario": scenario,
        "requests": len(records),
        "paths": dict(Counter(r.path or "none" for r in records)),
        "ttft_ms": {
            "direct": pcts([r.direct_ttft_ms for r in records]),
            "proxy": pcts([r.proxy_ttft_ms for r in records]),
        },
        "total_ms": {
            "direct": pcts([r.direct_total_ms for r in records]),
            "proxy": pcts([r.proxy_total_ms for r in records]),
        },
        "lag_ms": {
            "direct": pcts([r.direct_lag_ms for r in records if r.direct_lag_ms is not None]),
            "proxy": pcts([r.proxy_lag_ms for r in records if r.proxy_lag_ms is not None]),
        },
        # Gaps mean something only where text streams as the model writes it.
        "median_gap_ms": {
            "direct": median([g for r in records for g in r.direct_gaps_ms]) if streams_text else None,
            "proxy": median([g for r in records for g in r.proxy_gaps_ms]) if streams_text else None,
        },
        "upstream_calls": sum(r.upstream_calls for r in records),
        "upstream_streams_cut": sum(r.upstream_streams_cut for r in records),
        "right_answers": sum(r.right for r in records),
        "wrong_step_shown": sum(r.wrong_step_shown for r in records),
    }


def judge(summaries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 13's targets, each met or missed on the measured numbers."""
    out: list[dict[str, Any]] = []
    extra, lag, reuse = TARGETS_MS["extra_ttft"], TARGETS_MS["first_step_lag"], TARGETS_MS["reuse_ttft"]
    for name in ("bypass", "generic-miss"):
        if (s := summaries.get(name)) is None:
            continue
        direct, proxy = s["ttft_ms"]["direct"]["p50"], s["ttft_ms"]["proxy"]["p50"]
        out.append(
            _target(
                name,
                f"p50 TTFT through the proxy ≤ direct + {extra:g} ms",
                proxy <= direct + extra,
                f"{proxy:.1f} ms vs {direct:.1f} ms direct (+{proxy - direct:.1f} ms)",
            )
        )
        g_direct, g_proxy = s["median_gap_ms"]["direct"], s["median_gap_ms"]["proxy"]
        allowed = max(GAP_TOLERANCE[0], GAP_TOLERANCE[1] * g_direct)
        out.append(
            _target(
                name,
                f"median inter-chunk gap unchanged (within {GAP_TOLERANCE[0]:g} ms or {GAP_TOLERANCE[1]:.0%})",
                abs(g_proxy - g_direct) <= allowed,
                f"{g_proxy:.2f} ms vs {g_direct:.2f} ms direct",
            )
        )
    for name in ("linear-miss", "linear-miss-failing-step"):
        if (s := summaries.get(name)) is None:
            continue
        p50, p95 = s["lag_ms"]["proxy"]["p50"], s["lag_ms"]["proxy"]["p95"]
        out.append(
            _target(
                name,
                f"step 1 reaches the client ≤ {lag:g} ms after the model wrote its line break (p50)",
                p50 <= lag,
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
            )
        )
    if (s := summaries.get("reuse")) is not None:
        p50 = s["ttft_ms"]["proxy"]["p50"]
        out.append(_target("reuse", f"median TTFT ≤ {reuse:g} ms", p50 <= reuse, f"{p50:.2f} ms"))
    return out


def _target(scenario: str, goal: str, met: bool, measured: str) -> dict[str, Any]:
    return {"scenario": scenario, "target": goal, "measured": measured, "met": met}


# -- processes ------------------------------------------------------------------------------------------


def serve_proxy(port: int, upstream_url: str) -> None:  # pragma: no cover - runs in a subprocess
    """The proxy under test, on 127.0.0.1:``port``, until terminated."""
    from stepcache import MemoryStore, OpenAIHTTPBackend, StepCache
    from stepcache.server import ServerSettings, run

    backend = OpenAIHTTPBackend(upstream_url, api_key="sk-ttft-operator", timeout=60, max_retries=0)
    run(StepCache(backend, store=MemoryStore()), ServerSettings(port=port, log_level="warning"), owns_cache=True)


def run_ttft(
    *,
    requests: int = 30,
    token_delay_s: float = 0.02,
    scenarios: Sequence[str] = SCENARIOS,
    seed: int = 0,
    out: Path | None = None,
    command: str | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Start the fake model and the proxy, run ``scenarios``, and return (and with ``out``, write) the report."""
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or requests < 1:
        raise ValueError(
            f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}"
            if unknown
            else f"requests must be 1 or more, got {requests}"
        )
    started = time.perf_counter()
    info = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "stepcache": stepcache_version(),
        "token_delay_ms": token_delay_s * 1000,
        "requests": requests,
        "percentiles": PERCENTILES,
        "command": command or "stepcache bench ttft",
        "seed": seed,
    }
    upstream_port, proxy_port = free_port(), free_port()
    upstream_url, proxy_url = f"http://127.0.0.1:{upstream_port}", f"http://127.0.0.1:{proxy_port}"
    records: dict[str, list[RequestRecord]] = {}
    with ExitStack() as stack:
        stack.enter_context(
            python_process(
                f"from stepcache_bench._ttft_upstream import serve_upstream; serve_upstream({upstream_port}, {token_delay_s!r})",
                ready_url=upstream_url + "/v1/models",
                name="upstream",
            )
        )
        stack.enter_context(
            python_process(
                f"from stepcache_bench.ttft import serve_proxy; serve_proxy({proxy_port}, {upstream_url + '/v1'!r})",
                ready_url=proxy_url + "/healthz",
                name="proxy",
            )
        )
        client = stack.enter_context(httpx.Client(timeout=60))
        upstream = Upstream(client, upstream_url)
        for i, scenario in enumerate(scenarios):
            log(f"ttft: {scenario} ({requests} requests) ...")
            records[scenario] = run_scenario(
                scenario, requests, proxy_url, upstream, client, random.Random(f"{seed}-{i}")
            )
    summaries = {name: summarise(name, rs) for name, rs in records.items()}
    info |= {"duration_s": round(time.perf_counter() - started, 1), "load_average_end": _load()}
    report: dict[str, Any] = {
        "info": info,
        "scenarios": summaries,
        "targets": judge(summaries),
        "records": {name: [asdict(r) for r in rs] for name, rs in records.items()},
    }
    report["markdown"] = render_markdown(report)
    if out is not None:
        write_outputs(report, out)
    return report


def write_outputs(report: dict[str, Any], out: Path) -> None:
    """``report.md``, ``report.json`` (settings, summaries, targets) and ``requests.jsonl`` (every request)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report["markdown"], encoding="utf-8")
    summary = {k: v for k, v in report.items() if k not in ("markdown", "records")}
    (out / "report.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    with (out / "requests.jsonl").open("w", encoding="utf-8") as fh:
        for scenario, records in report["records"].items():
            for record in records:
                fh.write(json.dumps({"scenario": scenario, **record}, ensure_ascii=False) + "\n")


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": cpu,
        "load_average": _load(),
    }


def _load() -> list[float]:
    """1, 5 and 15 minute load averages: other work on the machine shows in every number here."""
    return [round(x, 2) for x in os.getloadavg()]


# -- the report ------------------------------------------------------------------------------------------


def render_markdown(report: dict[str, Any]) -> str:
    info, summaries = report["info"], report["scenarios"]
    m = info["machine"]
    lines = [
        "# Time to first token: straight to the model vs through the StepCache proxy",
        "",
        f"`{info['command']}` — {info['started_at']}, {info['duration_s']} s, stepcache {info['stepcache']}.",
        "",
        f"- **Machine:** {m['processor']}, {m['cpus']} CPUs, {m['platform']}, Python {m['python']} "
        f"(load average at start {', '.join(map(str, m['load_average']))}; at the end "
        f"{', '.join(map(str, info['load_average_end']))}).",
        f"- **Model:** the bench's fake (`stepcache_bench._ttft_upstream`), one word per chunk, "
        f"**{info['token_delay_ms']:g} ms per token** (the first one too); fake model, proxy and client each in its "
        "own process on loopback.",
        f"- **N = {info['requests']}** sequential requests per scenario (plus one unmeasured warm-up pair), each sent "
        "through the proxy and then straight to the model; every proxy request has its own API key, so its own "
        "namespace (reuse: one key, warmed with `Solve 3x + 5 = 20`).",
        f"- **Percentiles:** {info['percentiles']}. Times in ms. Every request's numbers: `requests.jsonl`.",
        "",
        "## Targets (issue 13)",
        "",
        "| scenario | target | measured | |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {t['scenario']} | {t['target']} | {t['measured']} | {'met' if t['met'] else '**missed**'} |"
        for t in report["targets"]
    ]
    lines += [
        "",
        "## Results",
        "",
        "| scenario | proxy path | TTFT p50 direct | TTFT p50 proxy | TTFT p95 direct | TTFT p95 proxy "
        "| gap p50 direct | gap p50 proxy | lag p50 / p95 direct | lag p50 / p95 proxy | whole answer p50 direct / proxy "
        "| model calls | streams cut | right | wrong step shown |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in summaries.items():
        ttft, gap, lag, total = s["ttft_ms"], s["median_gap_ms"], s["lag_ms"], s["total_ms"]
        lines.append(
            f"| {name} | {', '.join(f'{p} {c}' for p, c in s['paths'].items())} "
            f"| {ttft['direct']['p50']:.1f} | {ttft['proxy']['p50']:.1f} | {ttft['direct']['p95']:.1f} | {ttft['proxy']['p95']:.1f} "
            f"| {_num(gap['direct'])} | {_num(gap['proxy'])} | {_pair(lag['direct'])} | {_pair(lag['proxy'])} "
            f"| {total['direct']['p50']:.1f} / {total['proxy']['p50']:.1f} "
            f"| {s['upstream_calls']} | {s['upstream_streams_cut']} | {s['right_answers']}/{s['requests']} "
            f"| {s['wrong_step_shown'] if name.startswith('linear') else '–'} |"
        )
    lines += [
        "",
        "## What the columns are",
        "",
        "- **TTFT**: from just before the client sends the request to the first non-empty content delta it reads "
        "(direct: the same body straight to the model; for reuse that is the model answering it).",
        "- **gap p50**: median time between consecutive content deltas, over all of the scenario's streams.",
        "- **lag**: when the client read its first text minus when the model handed over the chunk that text needs "
        "(`time.monotonic`, one clock for all processes on Linux): the first chunk (bypass, generic); the chunk "
        "ending step 1's line (linear: the step is sent once its line is complete and verified); the last chunk "
        "(JSON, sent whole once it verifies). Direct, it is the HTTP and client floor.",
        "- **whole answer**: from sending to the end of the stream.",
        "- **model calls / streams cut**: calls the fake model got for the proxy's requests, and how many of its "
        "streams ended before the model finished (the failing step: cut at step 2, then one non-streamed repair).",
        "- **right**: the proxy's answer ends as the right one; **wrong step shown**: answers in which the model's "
        "slipped step 2 reached the client.",
        "",
    ]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _pair(p: dict[str, float] | None) -> str:
    return "–" if p is None else f"{p['p50']:.1f} / {p['p95']:.1f}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    out = []
    for name, s in report["scenarios"].items():
        ttft = s["ttft_ms"]
        lag = f", lag p50 {s['lag_ms']['proxy']['p50']:.1f} ms" if s["lag_ms"]["proxy"] else ""
        out.append(
            f"{name:26} TTFT p50 direct {ttft['direct']['p50']:7.1f} ms, proxy {ttft['proxy']['p50']:7.1f} ms{lag}"
        )
    out += [
        f"{'met   ' if t['met'] else 'MISSED'} {t['scenario']}: {t['target']} — {t['measured']}"
        for t in report["targets"]
    ]
    return out
