"""The bench report: per-seed summaries, their mean, the issue's targets (met / missed, and why).

Nothing here tunes anything: targets are judged on the measured records, and a missed target's
explanation is computed from the same records (which requests called the model, which failed).
For StepCache it also reports *detection coverage* (per expected family, the share of items whose
detected family is that family, with examples of misses) and *wrong answers by path* (how many
answers the checker rejects after reuse, patch, skip and miss). Records of runs made before the
detected family was recorded simply have no coverage. On a ``--templated`` run it also reports the
*later instances* of each layout: the documents after a layout's first, how many StepCache answered
from the cache, what they cost in tokens and how often each system answered them right.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from .runner import PATHS, RequestRecord, SystemSummary, over_skipped, summarise
from .scale import SCALE_TARGET_P50_MS, ScaleResult, Timing

__all__ = [
    "Headline",
    "Target",
    "FamilyCoverage",
    "PathErrors",
    "TemplateRow",
    "Regression",
    "regressions",
    "BenchReport",
    "build_report",
    "detection_coverage",
    "wrong_by_path",
    "by_template",
    "render_markdown",
    "print_headline",
]


class Headline(BaseModel):
    """One system over all seeds: rates and latencies are means of the per-seed values; counts are totals."""

    model_config = ConfigDict(extra="forbid")

    system: str
    seeds: int
    requests_per_seed: float
    mean_s: float
    median_s: float
    p95_s: float
    tokens_per_seed: float
    tokens_per_request: float
    correct_nonsemantic: float | None
    correct_all: float | None
    integrity: float
    hit_rate: float | None
    wrong_hit_rate: float | None
    wrong_hits: int
    stale_reuse: int
    over_skip: int
    errors: int
    paths: dict[str, int]
    patch_p95_s: float | None
    fresh_p95_s: float | None


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    goal: str
    measured: str
    met: bool | None  # None: could not be judged on this run (e.g. no patch requests)
    why: str = ""


class FamilyCoverage(BaseModel):
    """How often one system's detected family was the item's expected one (all seeds)."""

    model_config = ConfigDict(extra="forbid")

    system: str
    family: str  # the expected family
    items: int
    detected: int  # detected as ``family``
    detected_as: dict[str, int]  # what the misses were detected as ("error": the request raised)
    examples: list[str]  # a few misses: id, perturbation, detected family

    @property
    def share(self) -> float:
        return self.detected / self.items if self.items else 0.0


class PathErrors(BaseModel):
    """One system's answers on one path and how many of them the checker rejects (all seeds)."""

    model_config = ConfigDict(extra="forbid")

    system: str
    path: str
    answers: int
    checked: int
    wrong: int
    examples: list[str]


class RewriteRow(BaseModel):
    """One wrapper or mutation of a ``--wrapped`` run: per system, the share answered right (all seeds)."""

    model_config = ConfigDict(extra="forbid")

    perturbation: str  # "wrap:latex", "mutate:swap_key"
    requests: int  # per system
    correct: dict[str, float | None]  # system -> share of checked answers correct and intact
    detected: float | None = None  # StepCache: share claimed by the expected family
    paths: dict[str, int] = {}  # StepCache's paths


class TemplateRow(BaseModel):
    """The later documents of one layout of a ``--templated`` run (``layout="all"``: every layout), all seeds."""

    model_config = ConfigDict(extra="forbid")

    layout: str
    documents: int  # per system: the layout's documents after its first
    from_cache: int  # StepCache: answered by reuse or patch
    paths: dict[str, int] = {}  # StepCache's paths
    tokens: dict[str, int] = {}  # system -> upstream tokens spent on these documents
    correct: dict[str, float | None] = {}  # system -> share of checked answers correct and intact
    wrong_from_cache: int = 0  # StepCache answers served by reuse or patch that the checker rejects


class Regression(BaseModel):
    """Requests the bare model answered right and ``system`` answered wrong, by the path taken."""

    model_config = ConfigDict(extra="forbid")

    system: str
    answered_right_alone: int
    regressions: int
    improvements: int  # the other way round: wrong alone, right through the system
    paths: dict[str, int] = {}
    examples: list[str] = []


class BenchReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any]
    headline: list[Headline]
    per_seed: dict[str, list[SystemSummary]]
    targets: list[Target]
    scale: list[ScaleResult]
    coverage: list[FamilyCoverage] = []
    wrong_by_path: list[PathErrors] = []
    rewrites: list[RewriteRow] = []
    templates: list[TemplateRow] = []
    regressions: list[Regression] = []
    plots: dict[str, str] = {}
    markdown: str = ""

    def system(self, name: str) -> Headline:
        return next(h for h in self.headline if h.system == name)


# -- building ---------------------------------------------------------------------------------------


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def headline_of(system: str, summaries: Sequence[SystemSummary]) -> Headline:
    paths: Counter[str] = Counter()
    for s in summaries:
        paths.update(s.paths)
    return Headline(
        system=system,
        seeds=len(summaries),
        requests_per_seed=statistics.fmean(s.requests for s in summaries),
        mean_s=statistics.fmean(s.mean_s for s in summaries),
        median_s=statistics.fmean(s.median_s for s in summaries),
        p95_s=statistics.fmean(s.p95_s for s in summaries),
        tokens_per_seed=statistics.fmean(s.tokens_total for s in summaries),
        tokens_per_request=statistics.fmean(s.tokens_per_request for s in summaries),
        correct_nonsemantic=_mean([s.correct_nonsemantic for s in summaries]),
        correct_all=_mean([s.correct_all for s in summaries]),
        integrity=statistics.fmean(s.integrity for s in summaries),
        hit_rate=_mean([s.hit_rate for s in summaries]),
        wrong_hit_rate=_mean([s.wrong_hit_rate for s in summaries]),
        wrong_hits=sum(s.wrong_hits for s in summaries),
        stale_reuse=sum(s.stale_reuse for s in summaries),
        over_skip=sum(s.over_skip for s in summaries),
        errors=sum(s.errors for s in summaries),
        paths={p: paths[p] for p in PATHS if paths[p]},
        patch_p95_s=_mean([s.patch_p95_s for s in summaries]),
        fresh_p95_s=_mean([s.fresh_p95_s for s in summaries]),
    )


def build_report(
    records: Sequence[RequestRecord],
    systems: Sequence[str],
    settings: dict[str, Any],
    scale: Sequence[ScaleResult] = (),
) -> BenchReport:
    seeds = sorted({r.seed for r in records}, key=lambda s: (s is None, s))
    per_seed: dict[str, list[SystemSummary]] = {}
    for seed in seeds:
        group = [r for r in records if r.seed == seed]
        per_seed[str(seed)] = [summarise(name, [r for r in group if r.system == name]) for name in systems]
    headline = [headline_of(name, [s for ss in per_seed.values() for s in ss if s.system == name]) for name in systems]
    report = BenchReport(
        settings=settings,
        headline=headline,
        per_seed=per_seed,
        targets=[],
        scale=list(scale),
        coverage=detection_coverage(records),
        wrong_by_path=wrong_by_path(records),
        rewrites=by_rewrite(records, systems),
        templates=by_template(records, systems),
        regressions=regressions(records, systems),
    )
    report.targets = judge_targets(report, records)
    return report


def regressions(records: Sequence[RequestRecord], systems: Sequence[str], examples: int = 3) -> list[Regression]:
    """Per system, the requests it answered wrong that the bare model (no cache) answered right —
    what a cache in front of a model risks — and the other way round."""
    bare = {(r.seed, r.id): r for r in records if r.system == NO_CACHE and r.ok is not None}
    if not bare:
        return []
    out = []
    for name in systems:
        if name == NO_CACHE:
            continue
        mine = [(r, bare[(r.seed, r.id)]) for r in records if r.system == name and (r.seed, r.id) in bare]
        worse = [r for r, b in mine if b.ok and r.ok is False]
        out.append(
            Regression(
                system=name,
                answered_right_alone=sum(1 for _, b in mine if b.ok),
                regressions=len(worse),
                improvements=sum(1 for r, b in mine if b.ok is False and r.ok),
                paths=dict(Counter(r.path or "-" for r in worse)),
                examples=[f"`{r.id}` ({r.path or '-'}: {'; '.join(r.reasons)[:80]})" for r in worse[:examples]],
            )
        )
    return out


def _miss(r: RequestRecord) -> str:
    return f"`{r.id}` ({r.perturbation}, " + (f"detected {r.family})" if r.family else f"{(r.error or '')[:80]})")


def detection_coverage(records: Sequence[RequestRecord], examples: int = 3) -> list[FamilyCoverage]:
    """Per system that detects families and per expected family: how many items it claimed rightly.

    A request that ended in an error counts as a miss (``detected_as["error"]``): its family is unknown.
    """
    out: list[FamilyCoverage] = []
    for system, mine in records_by_system(records).items():
        if not any(r.family is not None for r in mine):
            continue  # a system without families, or a run recorded before families were
        known = [r for r in mine if r.expected_family is not None and (r.family is not None or r.error)]
        for family in sorted({r.expected_family for r in known if r.expected_family is not None}):
            group = [r for r in known if r.expected_family == family]
            misses = [r for r in group if r.family != family]
            out.append(
                FamilyCoverage(
                    system=system,
                    family=family,
                    items=len(group),
                    detected=len(group) - len(misses),
                    detected_as=dict(Counter(r.family or "error" for r in misses).most_common()),
                    examples=[_miss(r) for r in misses[:examples]],
                )
            )
    return out


def by_rewrite(records: Sequence[RequestRecord], systems: Sequence[str]) -> list[RewriteRow]:
    """For the wrapped and mutated requests of a ``--wrapped`` run: one row per wrapper or mutation."""
    rows: list[RewriteRow] = []
    kinds = sorted({r.perturbation for r in records if r.perturbation.startswith(("wrap:", "mutate:"))})
    for kind in kinds:
        group = [r for r in records if r.perturbation == kind]
        mine = [r for r in group if r.system == STEPCACHE]
        claimed = [r for r in mine if r.expected_family is not None]
        rows.append(
            RewriteRow(
                perturbation=kind,
                requests=max(Counter(r.system for r in group).values()),
                correct={s: _correct_share([r for r in group if r.system == s]) for s in systems},
                detected=sum(r.family == r.expected_family for r in claimed) / len(claimed) if claimed else None,
                paths=dict(Counter(r.path or "error" for r in mine).most_common()),
            )
        )
    return rows


def by_template(records: Sequence[RequestRecord], systems: Sequence[str]) -> list[TemplateRow]:
    """For the documents of a ``--templated`` run that are not their layout's first
    (``perturbation="template:<layout>"``): one row per layout, then one for all of them."""
    later = [r for r in records if r.perturbation.startswith("template:")]
    layouts = sorted({r.perturbation.removeprefix("template:") for r in later})

    def row(layout: str, group: Sequence[RequestRecord]) -> TemplateRow:
        mine = [r for r in group if r.system == STEPCACHE]
        cached = [r for r in mine if r.path in _FROM_CACHE]
        return TemplateRow(
            layout=layout,
            documents=max(Counter(r.system for r in group).values()),
            from_cache=len(cached),
            paths=dict(Counter(r.path or "error" for r in mine).most_common()),
            tokens={s: sum(r.tokens for r in group if r.system == s) for s in systems},
            correct={s: _correct_share([r for r in group if r.system == s]) for s in systems},
            wrong_from_cache=sum(r.ok is False for r in cached),
        )

    rows = [row(layout, [r for r in later if r.perturbation == f"template:{layout}"]) for layout in layouts]
    return rows + [row("all", later)] if rows else []


def _correct_share(records: Sequence[RequestRecord]) -> float | None:
    checked = [r for r in records if r.ok is not None]
    return sum(bool(r.ok) for r in checked) / len(checked) if checked else None


def wrong_by_path(records: Sequence[RequestRecord], examples: int = 3) -> list[PathErrors]:
    """Per system with paths (StepCache) and per path: answers, checked answers, and wrong ones.
    Requests that raised (no answer, no path) are the row ``error``."""
    out: list[PathErrors] = []
    for system, mine in records_by_system(records).items():
        if not any(r.path for r in mine):
            continue
        for path in (*PATHS, "error"):
            group = [r for r in mine if (r.path == path if path != "error" else r.error is not None)]
            if not group:
                continue
            wrong = [r for r in group if r.ok is False]
            out.append(
                PathErrors(
                    system=system,
                    path=path,
                    answers=len(group),
                    checked=sum(r.ok is not None for r in group),
                    wrong=len(wrong),
                    examples=[
                        f"`{r.id}` ({r.perturbation}: {'; '.join(r.reasons[:1])[:100]})" for r in wrong[:examples]
                    ],
                )
            )
    return out


# -- targets ----------------------------------------------------------------------------------------

NO_CACHE, STEPCACHE = "no cache", "StepCache"
_MODEL_PATHS = ("miss", "skip", "patch")
_FROM_CACHE = ("reuse", "patch")


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _examples(records: Sequence[RequestRecord], limit: int = 4) -> str:
    parts = []
    for r in records[:limit]:
        why = r.error or "; ".join(r.reasons[:2]) or r.detail or "no reason recorded"
        parts.append(f"`{r.id}` (seed {r.seed}, {r.perturbation}, path {r.path}: {why[:160]})")
    more = f" and {len(records) - limit} more" if len(records) > limit else ""
    return ", ".join(parts) + more


def judge_targets(report: BenchReport, records: Sequence[RequestRecord]) -> list[Target]:
    """The issue's targets for StepCache vs no cache (and vs GPTCache), each met / missed / n/a."""
    names = {h.system for h in report.headline}
    targets: list[Target] = []
    if STEPCACHE not in names:
        return targets
    sc = report.system(STEPCACHE)
    mine = [r for r in records if r.system == STEPCACHE]
    fresh_share = sum(r.path in _MODEL_PATHS for r in mine) / len(mine)

    wrong = [r for r in mine if not r.semantic and r.ok is False]
    targets.append(
        Target(
            name="correct on every non-semantic request",
            goal="100 %",
            measured=_pct(sc.correct_nonsemantic),
            met=sc.correct_nonsemantic == 1.0 if sc.correct_nonsemantic is not None else None,
            why="" if not wrong else f"{len(wrong)} wrong or refused: {_examples(wrong)}",
        )
    )
    targets.append(
        Target(
            name="stale reuse",
            goal="0",
            measured=str(sc.stale_reuse),
            met=sc.stale_reuse == 0,
            why=_examples([r for r in mine if r.semantic and r.hit and r.ok is False]) if sc.stale_reuse else "",
        )
    )
    skipped = over_skipped(mine)
    by_kind = Counter(f"{r.task}/{r.perturbation}" for r in skipped)
    targets.append(
        Target(
            name="over-skip",
            goal="0",
            measured=str(sc.over_skip),
            met=sc.over_skip == 0,
            why=""
            if not skipped
            else "by perturbation: "
            + ", ".join(f"{k} {n}" for k, n in by_kind.most_common())
            + f"; e.g. {_examples(skipped, 3)}",
        )
    )
    if NO_CACHE not in names:
        return targets + _versus_gptcache(report)
    nc = report.system(NO_CACHE)
    bare = {(r.seed, r.id): r for r in records if r.system == NO_CACHE}
    answerable = [r for r in mine if (b := bare.get((r.seed, r.id))) is not None and b.ok]
    failed = [r for r in answerable if not r.ok]
    share = (len(answerable) - len(failed)) / len(answerable) if answerable else None
    targets.append(
        Target(
            name="correct on every request the model answers correctly",
            goal="100 %",
            measured=_pct(share),
            met=None if share is None else share == 1.0,
            why="" if not failed else f"{len(failed)} of {len(answerable)}: {_examples(failed)}",
        )
    )
    ratio = nc.mean_s / sc.mean_s if sc.mean_s else None
    model_time = sum(r.latency_s for r in mine if r.path in _MODEL_PATHS) / len(mine)
    bare_all = [r for r in records if r.system == NO_CACHE]
    must_generate = sum(r.latency_s for r in bare_all if r.perturbation == "base" or r.semantic)
    ceiling = (sum(r.latency_s for r in bare_all) / must_generate) if must_generate else None
    targets.append(
        Target(
            name="mean latency vs no cache",
            goal="≥ 4× lower (paper 3.2×)",
            measured="n/a" if ratio is None else f"{ratio:.2f}× lower ({_ms(sc.mean_s)} vs {_ms(nc.mean_s)})",
            met=None if ratio is None else ratio >= 4,
            why=""
            if ratio is None or ratio >= 4
            else (
                f"{_pct(fresh_share)} of StepCache's requests called the model (miss / skip / patch); those alone "
                f"add {_ms(model_time)} to the mean, which caps the speed-up at {nc.mean_s / model_time:.2f}×"
                + (
                    ""
                    if ceiling is None
                    else f". Base prompts and semantic variants must be generated by any correct system; they take "
                    f"{_pct(1 / ceiling)} of no cache's time, so a cache answering every other request in zero time "
                    f"would be {ceiling:.2f}× faster at most on this workload"
                )
                if model_time
                else "the cache's own overhead dominates"
            ),
        )
    )
    targets.append(
        Target(
            name="median latency",
            goal="≤ 5 ms (paper 10 ms)",
            measured=_ms(sc.median_s),
            met=sc.median_s <= 0.005,
            why=""
            if sc.median_s <= 0.005
            else (
                f"{_pct(fresh_share)} of requests called the model, so the median request is a model call"
                if fresh_share >= 0.5
                else f"the median request is served from cache; the engine's cached path itself takes {_ms(sc.median_s)} here"
            ),
        )
    )
    token_share = sc.tokens_per_seed / nc.tokens_per_seed if nc.tokens_per_seed else None
    floor_items = [r for r in records if r.system == NO_CACHE and (r.perturbation == "base" or r.semantic)]
    floor = sum(r.tokens for r in floor_items) / max(1, sum(r.tokens for r in records if r.system == NO_CACHE))
    spent = Counter[str]()
    for r in mine:
        spent[r.path or "?"] += r.tokens
    targets.append(
        Target(
            name="upstream tokens vs no cache",
            goal="≤ 35 % (paper 76 %)",
            measured=_pct(token_share),
            met=None if token_share is None else token_share <= 0.35,
            why=""
            if token_share is None or token_share <= 0.35
            else (
                f"base prompts and semantic variants must be generated by any correct system: they are "
                f"{_pct(floor)} of no-cache tokens on this workload; StepCache's tokens by path: "
                + ", ".join(f"{p} {n:,}" for p, n in spent.most_common() if n)
            ),
        )
    )
    targets.append(
        Target(
            name="p95 latency never worse than no cache",
            goal=f"≤ {_ms(nc.p95_s)}",
            measured=_ms(sc.p95_s),
            met=sc.p95_s <= nc.p95_s,
            why=""
            if sc.p95_s <= nc.p95_s
            else ("StepCache's slowest requests are model calls: " + _slowest(mine) + "; " + _per_call(records)),
        )
    )
    full = sc.fresh_p95_s if sc.fresh_p95_s is not None else nc.p95_s
    patch_ok = None if sc.patch_p95_s is None else sc.patch_p95_s <= full / 2
    targets.append(
        Target(
            name="patch p95 vs a full generation's p95",
            goal=f"≤ half ({_ms(full / 2)})",
            measured=f"{_ms(sc.patch_p95_s)} ({sc.paths.get('patch', 0)} patches; fresh p95 {_ms(sc.fresh_p95_s)})",
            met=patch_ok,
            why="no request took the patch path on this run"
            if patch_ok is None
            else ""
            if patch_ok
            else _patch_cost(mine),
        )
    )
    return targets + _versus_gptcache(report)


def _slowest(records: Sequence[RequestRecord]) -> str:
    ordered = sorted(records, key=lambda r: r.latency_s, reverse=True)[: max(1, len(records) // 20)]
    return ", ".join(f"{p} {n}" for p, n in Counter(r.path or "?" for r in ordered).most_common()) + " (top 5 %)"


def _patch_cost(records: Sequence[RequestRecord]) -> str:
    def mean_tokens(paths: tuple[str, ...]) -> tuple[float, float]:
        chosen = [r for r in records if r.path in paths]
        n = max(1, len(chosen))
        return sum(r.prompt_tokens for r in chosen) / n, sum(r.completion_tokens for r in chosen) / n

    (pp, pc), (fp, fc) = mean_tokens(("patch",)), mean_tokens(("miss", "skip"))
    return (
        f"a patch request carries the cached steps in its prompt and regenerates from the first failing "
        f"step: {pp:.0f} prompt + {pc:.0f} completion tokens per patch vs {fp:.0f} + {fc:.0f} per fresh "
        f"generation, so it is not shorter than a full generation on this model"
    )


def _per_call(records: Sequence[RequestRecord]) -> str:
    def mean(system: str, field: str) -> float:
        calls = [
            r for r in records if r.system == system and r.tokens and (system == NO_CACHE or r.path in _MODEL_PATHS)
        ]
        return sum(getattr(r, field) for r in calls) / len(calls) if calls else 0.0

    return (
        f"a StepCache model request carries {mean(STEPCACHE, 'prompt_tokens'):.0f} prompt + "
        f"{mean(STEPCACHE, 'completion_tokens'):.0f} completion tokens on average (its step-format instructions "
        f"and repair rounds), the bare request {mean(NO_CACHE, 'prompt_tokens'):.0f} + "
        f"{mean(NO_CACHE, 'completion_tokens'):.0f}"
    )


def _versus_gptcache(report: BenchReport) -> list[Target]:
    sc = report.system(STEPCACHE)
    out = []
    for h in report.headline:
        if not h.system.startswith("GPTCache"):
            continue
        better = (sc.correct_all or 0) > (h.correct_all or 0)
        out.append(
            Target(
                name=f"vs {h.system}: higher correctness at comparable reuse",
                goal="correct (all) higher",
                measured=f"correct {_pct(sc.correct_all)} vs {_pct(h.correct_all)}; hit rate {_pct(sc.hit_rate)} vs "
                f"{_pct(h.hit_rate)}; wrong hits {sc.wrong_hits} vs {h.wrong_hits}",
                met=better,
                why="" if better else "GPTCache's answers were at least as often correct on this run",
            )
        )
    for m in report.scale:
        fast, exact, reuse = (m.timings.get(name) for name in ("fast path", "exact", "reuse"))
        if m.entries >= 100_000 and fast is not None:
            out.append(
                Target(
                    name=f"fast-path p50 at {m.entries:,} entries",
                    goal=f"≤ {SCALE_TARGET_P50_MS:g} ms",
                    measured=f"{fast.p50_ms:.3f} ms (p99 {fast.p99_ms:.2f} ms)",
                    met=fast.p50_ms <= SCALE_TARGET_P50_MS,
                    why=""
                    if fast.p50_ms <= SCALE_TARGET_P50_MS
                    else f"exact hits p50 {_timing_ms(exact)}, adapted reuse p50 {_timing_ms(reuse)}",
                )
            )
    return out


# -- rendering --------------------------------------------------------------------------------------


def _timing_ms(timing: Timing | None, *, p99: bool = False) -> str:
    if timing is None:
        return "n/a"
    return f"{timing.p99_ms:.2f} ms" if p99 else f"{timing.p50_ms:.3f} ms"


_HEADER = (
    "system",
    "req/seed",
    "mean",
    "median",
    "p95",
    "tokens/seed",
    "tokens/req",
    "correct (non-sem.)",
    "correct (all)",
    "integrity",
    "hit rate",
    "wrong hits",
    "stale reuse",
    "over-skip",
)


def _row(h: Headline | SystemSummary) -> tuple[str, ...]:
    requests = h.requests_per_seed if isinstance(h, Headline) else h.requests
    tokens = h.tokens_per_seed if isinstance(h, Headline) else h.tokens_total
    is_stepcache = bool(h.paths)
    return (
        h.system,
        f"{requests:g}",
        _ms(h.mean_s),
        _ms(h.median_s),
        _ms(h.p95_s),
        f"{tokens:,.0f}",
        f"{h.tokens_per_request:.1f}",
        _pct(h.correct_nonsemantic),
        _pct(h.correct_all),
        _pct(h.integrity),
        _pct(h.hit_rate),
        "–" if h.hit_rate is None else str(h.wrong_hits),
        "–" if h.hit_rate is None else str(h.stale_reuse),
        str(h.over_skip) if is_stepcache else "–",
    )


def _table(rows: Sequence[tuple[str, ...]], header: Sequence[str] = _HEADER) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def render_markdown(report: BenchReport) -> str:
    s = report.settings
    lines = [
        "# StepCache bench",
        "",
        f"Backend **{s.get('backend')}**, model **{s.get('model')}**, seeds {s.get('seeds')}, "
        f"{s.get('requests_per_seed')} requests per seed per system, systems run "
        f"{'interleaved' if s.get('interleave') else 'in separate passes'}, each with a fresh cache.",
        "",
    ]
    if s.get("latency_model"):
        lines += [
            "> **Scripted run: latencies include modelled model time** (no sleeping; "
            f"{s['latency_model']}) added to each request's measured wall time. Use it to validate the "
            "protocol, not to quote speed-ups.",
            "",
        ]
    journal = s.get("journal")
    if journal:
        lines += [
            f"> **Model calls journaled** (`{journal.get('file')}`): each distinct request was generated once by "
            "the model; an identical request later (from another system, or a resumed run) got the recorded "
            "answer and was charged the recorded seconds. This run: "
            f"{journal.get('live_calls', 0):,} live, {journal.get('replayed_calls', 0):,} replayed"
            + (
                f"; the journal holds {journal['recorded_calls']:,} calls, "
                f"{journal['recorded_model_s'] / 3600:.2f} h of model time"
                if "recorded_calls" in journal
                else ""
            )
            + ".",
            "",
        ]
    lines += ["## Headline (mean over seeds; counts are totals)", "", *_table([_row(h) for h in report.headline]), ""]
    for h in report.headline:
        if h.paths:
            total = sum(h.paths.values()) or 1
            mix = ", ".join(f"{p} {n} ({100 * n / total:.0f} %)" for p, n in h.paths.items())
            lines.append(
                f"**{h.system} path mix** (all seeds): {mix}; patch p95 {_ms(h.patch_p95_s)}, "
                f"fresh (miss/skip) p95 {_ms(h.fresh_p95_s)}  "
            )
    lines += [
        "",
        "Correct = the independent checker's task check *and* its integrity check (numbered steps in "
        "order, no duplicate or contradictory step, final line consistent with the body). A *hit* is an "
        "answer served from the cache (StepCache: reuse or patch); a *wrong hit* is a hit the checker "
        "rejects; *stale reuse* is a wrong hit on a semantic variant; *over-skip* is a non-semantic "
        "variant StepCache answered fresh although its base was cached.",
        "",
    ]
    lines += [
        "## Targets",
        "",
        *_table(
            [
                (t.name, t.goal, t.measured, {True: "met", False: "**missed**", None: "n/a"}[t.met], t.why or "")
                for t in report.targets
            ],
            ("target", "goal", "measured", "", "why (when missed)"),
        ),
        "",
    ]
    lines += (
        _coverage_section(report)
        + _wrong_by_path_section(report)
        + _regressions_section(report)
        + _templates_section(report)
        + _rewrites_section(report)
    )
    lines += ["## Per seed", ""]
    for seed, summaries in report.per_seed.items():
        lines += [f"### seed {seed}", "", *_table([_row(x) for x in summaries]), ""]
    if report.scale:
        lines += [
            "## Lookup cost as the cache grows",
            "",
            "In-process `StepCache.complete()` on requests answered without the model (scripted backend), "
            "after filling a SQLite store with synthetic entries.",
            "",
            *_table(
                [
                    (
                        f"{m.entries:,}",
                        f"{m.fill_s:.1f} s",
                        _timing_ms(m.timings.get("fast path")),
                        _timing_ms(m.timings.get("fast path"), p99=True),
                        _timing_ms(m.timings.get("exact")),
                        _timing_ms(m.timings.get("reuse")),
                        str(m.timings["reuse"].requests if "reuse" in m.timings else 0),
                    )
                    for m in report.scale
                ],
                (
                    "entries",
                    "fill",
                    "fast path p50",
                    "fast path p99",
                    "exact p50",
                    "adapted reuse p50",
                    "reuse requests",
                ),
            ),
            "",
        ]
    if report.plots:
        lines += ["## Plots", ""] + [f"![{name}]({path})" for name, path in report.plots.items()] + [""]
    lines += ["## Settings", "", "```json", json.dumps(report.settings, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def _coverage_section(report: BenchReport) -> list[str]:
    if not report.coverage:
        return []
    rows = [
        (
            c.system,
            c.family,
            str(c.items),
            f"{c.detected} ({_pct(c.share)})",
            ", ".join(f"{f} {n}" for f, n in c.detected_as.items()) or "–",
            ", ".join(c.examples) or "–",
        )
        for c in report.coverage
    ]
    return [
        "## Detection coverage",
        "",
        "Per family the item says should claim it: how many requests the system detected as that family "
        "(all seeds). A request claimed by the wrong family is verified by the wrong rules.",
        "",
        *_table(
            rows, ("system", "expected family", "requests", "detected as expected", "detected instead", "e.g. misses")
        ),
        "",
    ]


def _wrong_by_path_section(report: BenchReport) -> list[str]:
    if not report.wrong_by_path:
        return []
    rows = [
        (
            e.system,
            e.path,
            str(e.answers),
            str(e.checked),
            str(e.wrong),
            _pct(e.wrong / e.checked if e.checked else None),
            ", ".join(e.examples) or "–",
        )
        for e in report.wrong_by_path
    ]
    return [
        "## Wrong answers by path",
        "",
        "Answers the checker rejects, by the path that produced them (all seeds): a wrong *reuse* or "
        "*patch* is the cache's fault; a wrong *skip* or *miss* is the model's answer passed on.",
        "",
        *_table(rows, ("system", "path", "answers", "checked", "wrong", "share wrong", "e.g.")),
        "",
    ]


def _regressions_section(report: BenchReport) -> list[str]:
    if not report.regressions:
        return []
    rows = [
        (
            g.system,
            str(g.answered_right_alone),
            str(g.regressions),
            str(g.improvements),
            ", ".join(f"{p} {n}" for p, n in g.paths.items()) or "–",
            ", ".join(g.examples) or "–",
        )
        for g in report.regressions
    ]
    return [
        "## Regressions",
        "",
        "Requests the bare model (no cache) answered right and the system answered wrong (all seeds), and "
        "improvements the other way round.",
        "",
        *_table(rows, ("system", "right alone", "regressions", "improvements", "regressions by path", "e.g.")),
        "",
    ]


def _templates_section(report: BenchReport) -> list[str]:
    if not report.templates:
        return []
    systems = list(report.templates[-1].tokens)
    baseline = NO_CACHE if NO_CACHE in systems else None

    def versus(t: TemplateRow) -> str:
        base = t.tokens.get(baseline, 0) if baseline else 0
        return _pct(t.tokens.get(STEPCACHE, 0) / base) if base and STEPCACHE in t.tokens else "n/a"

    rows = [
        (
            f"**{t.layout}**" if t.layout == "all" else t.layout,
            str(t.documents),
            f"{t.from_cache} ({_pct(t.from_cache / t.documents if t.documents else None)})",
            ", ".join(f"{p} {n}" for p, n in t.paths.items()) or "–",
            *(f"{t.tokens[s]:,}" for s in systems),
            versus(t),
            *(_pct(t.correct.get(s)) for s in systems),
            str(t.wrong_from_cache),
        )
        for t in report.templates
    ]
    return [
        "## Later instances of a template",
        "",
        "Per template (a layout of `--templated` documents, a problem of `--gsm`), its instances after the "
        "first (all seeds): how many StepCache answered from the cache (reuse or patch) and by which path, the "
        "upstream tokens they cost per system (and StepCache's share of no cache's), the share answered right "
        "per system, and StepCache's wrong answers served from the cache.",
        "",
        *_table(
            rows,
            (
                "layout",
                "later documents",
                "StepCache reuse or patch",
                "StepCache paths",
                *(f"tokens: {s}" for s in systems),
                "StepCache tokens vs no cache",
                *(f"correct: {s}" for s in systems),
                "wrong from cache",
            ),
        ),
        "",
    ]


def _rewrites_section(report: BenchReport) -> list[str]:
    if not report.rewrites:
        return []
    systems = list(report.rewrites[0].correct)
    rows = [
        (
            r.perturbation,
            str(r.requests),
            *(_pct(r.correct.get(s)) for s in systems),
            _pct(r.detected),
            ", ".join(f"{p} {n}" for p, n in r.paths.items()) or "–",
        )
        for r in report.rewrites
    ]
    return [
        "## By wrapper and mutation",
        "",
        "Each meaning-preserving wrapping (`wrap:`) and meaning-changing mutation (`mutate:`) of the workload: "
        "the share of checked answers that are right, per system; for StepCache also the share claimed by "
        "the expected family and its paths.",
        "",
        *_table(
            rows,
            ("rewrite", "requests", *(f"correct: {s}" for s in systems), "StepCache family right", "StepCache paths"),
        ),
        "",
    ]


def print_headline(report: BenchReport, file: Any = None) -> None:
    out = file or sys.stdout
    rows = [_row(h) for h in report.headline]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADER)]
    for row in (_HEADER, *rows):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))), file=out)
    missed = [t for t in report.targets if t.met is False]
    print(
        f"targets: {sum(t.met is True for t in report.targets)} met, {len(missed)} missed"
        + (" (" + "; ".join(t.name for t in missed) + ")" if missed else ""),
        file=out,
    )
    for system in dict.fromkeys(c.system for c in report.coverage):
        mine = [c for c in report.coverage if c.system == system]
        print(
            f"{system} detection coverage: "
            + ", ".join(f"{c.family} {_pct(c.share)} ({c.detected}/{c.items})" for c in mine),
            file=out,
        )
    if report.templates and STEPCACHE in report.templates[-1].tokens:
        t = report.templates[-1]
        tokens = (
            f", tokens {_pct(t.tokens[STEPCACHE] / t.tokens[NO_CACHE])} of no cache"
            if t.tokens.get(NO_CACHE) and STEPCACHE in t.tokens
            else ""
        )
        print(
            f"StepCache on later instances of a template: {t.from_cache}/{t.documents} from the cache "
            f"({_pct(t.from_cache / t.documents if t.documents else None)}){tokens}, "
            f"correct {_pct(t.correct.get(STEPCACHE))}, {t.wrong_from_cache} wrong from the cache",
            file=out,
        )
    for system in dict.fromkeys(e.system for e in report.wrong_by_path):
        by_path = [e for e in report.wrong_by_path if e.system == system]
        print(
            f"{system} wrong answers by path: " + ", ".join(f"{e.path} {e.wrong}/{e.checked}" for e in by_path),
            file=out,
        )
    for g in report.regressions:
        print(
            f"{g.system}: {g.regressions} regression(s) (right alone, wrong through it), "
            f"{g.improvements} improvement(s)",
            file=out,
        )


def records_by_system(records: Sequence[RequestRecord]) -> dict[str, list[RequestRecord]]:
    grouped: dict[str, list[RequestRecord]] = defaultdict(list)
    for r in records:
        grouped[r.system].append(r)
    return dict(grouped)
