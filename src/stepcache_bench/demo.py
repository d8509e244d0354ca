"""The README's main job: a short paper-shaped workload through the bare model and through StepCache.

``stepcache demo`` sends every request of a small workload to the model directly ("no cache") and
through a fresh :class:`~stepcache.StepCache` on the same backend, interleaved request by request so
neither system benefits from the other's warm-up. It measures latency, upstream tokens, the path
StepCache took, and correctness by the independent checker (:mod:`stepcache_bench.checker`), prints a
table and writes ``demo.md`` plus ``demo.json`` (every request) into the output directory.

Sizes (requests per system): default 64 (2 base prompts per task, k = 3), ``--quick`` 22 (1 base
prompt per task, k = 2) — chosen so the default finishes in well under 15 minutes on 2 cores with
the embedded 0.5B model.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from stepcache import Backend, ChatRequest, MemoryStore, Result, SQLiteStore, StepCache

from .runner import (
    RequestRecord,
    SystemSummary,
    machine_info,
    model_or_default,
    progress_bar,
    run_systems,
    stepcache_version,
    summarise,
)
from .runner import warm_up as warm_up_backend
from .systems import NoCache, StepCacheSystem, System
from .workload import WorkloadItem, generate_workload

__all__ = [
    "DemoRecord",
    "SystemSummary",
    "DemoReport",
    "SupportsComplete",
    "demo_workload",
    "run_demo",
    "print_report",
    "sqlite_or_memory_cache",
]

NO_CACHE, STEPCACHE = "no cache", "StepCache"
#: (base prompts per task, variants per perturbation) of each demo size.
SIZES: dict[str, tuple[int, int]] = {"default": (2, 3), "quick": (1, 2)}


class SupportsComplete(Protocol):
    """What :func:`run_demo` needs of a cache: :class:`~stepcache.StepCache` fits."""

    def complete(self, request: ChatRequest) -> Result: ...


#: One request as one system answered it (the bench's record; kept under the demo's name).
DemoRecord = RequestRecord


class DemoReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any]
    systems: list[SystemSummary]
    records: list[DemoRecord]
    markdown: str
    markdown_path: str | None = None
    json_path: str | None = None

    def summary(self, system: str) -> SystemSummary:
        return next(s for s in self.systems if s.system == system)


def demo_workload(seed: int = 42, *, quick: bool = False) -> list[WorkloadItem]:
    """The demo's slice of the paper-shaped workload (see :data:`SIZES`)."""
    bases, k = SIZES["quick" if quick else "default"]
    # 256 tokens is ample for these answers and bounds the worst case: 64 × 256 tokens at ~27 tok/s
    # for the bare model stays under 11 minutes even if every answer rambled to the limit.
    return generate_workload(seed, bases_per_task=bases, variants_per_perturbation=k, max_tokens=256)


def run_demo(
    cache_factory: Callable[[Backend], SupportsComplete] | None,
    backend: Backend,
    items: Sequence[WorkloadItem],
    out_dir: str | Path | None,
    progress: bool = True,
    *,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
    warm_up: bool = True,
) -> DemoReport:
    """Run ``items`` through ``backend`` bare and through ``cache_factory(backend)``; report and write.

    ``cache_factory=None`` builds ``StepCache(backend, store=MemoryStore())``. The cache's store is
    closed at the end; ``backend`` is the caller's to close. ``out_dir=None`` writes no files.
    ``model`` is the model name sent with each request (default: the backend's first model).
    Backend and verification errors are recorded per request, not raised.
    """
    if not items:
        raise ValueError("the workload is empty")
    model = model_or_default(backend, model)
    cache = (cache_factory or _memory_cache)(backend)
    systems: list[System] = [NoCache(backend), StepCacheSystem(cache)]
    started = time.perf_counter()
    warm_up_s = warm_up_backend(backend, model) if warm_up else None
    try:
        with progress_bar(2 * len(items), progress, "demo") as bar:
            # interleaved: each system sees the model in the same state
            records = run_systems(systems, items, model, interleave=True, bar=bar)
    finally:
        for system in systems:
            system.close()
    info = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 2),
        "stepcache": stepcache_version(),
        "backend": getattr(backend, "name", type(backend).__name__),
        "model": model,
        "requests_per_system": len(items),
        "seeds": sorted({i.seed for i in items if i.seed is not None}),
        "warm_up_s": None if warm_up_s is None else round(warm_up_s, 3),
        "machine": machine_info(),
        **(settings or {}),
    }
    summaries = [summarise(name, [r for r in records if r.system == name]) for name in (NO_CACHE, STEPCACHE)]
    report = DemoReport(settings=info, systems=summaries, records=records, markdown="")
    report.markdown = render_markdown(report)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        md, js = out / "demo.md", out / "demo.json"
        md.write_text(report.markdown, encoding="utf-8")
        report.markdown_path, report.json_path = str(md), str(js)
        js.write_text(report.model_dump_json(indent=2, exclude={"markdown"}), encoding="utf-8")
    return report


# -- measuring --------------------------------------------------------------------------------------


def _memory_cache(backend: Backend) -> SupportsComplete:
    return StepCache(backend, store=MemoryStore())


def sqlite_or_memory_cache(kind: str, path: Path) -> Callable[[Backend], SupportsComplete]:
    """A cache factory for :func:`run_demo`: StepCache on a SQLite file at ``path``, or in memory."""

    def build(backend: Backend) -> SupportsComplete:
        return StepCache(backend, store=MemoryStore() if kind == "memory" else SQLiteStore(path))

    return build


# -- reporting --------------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


_HEADER = (
    "system",
    "requests",
    "mean",
    "median",
    "p95",
    "upstream tokens",
    "tokens / req",
    "correct (non-semantic)",
    "correct (all)",
    "integrity",
)


def _rows(report: DemoReport) -> list[tuple[str, ...]]:
    return [
        (
            s.system,
            str(s.requests),
            _seconds(s.mean_s),
            _seconds(s.median_s),
            _seconds(s.p95_s),
            f"{s.tokens_total:,}",
            f"{s.tokens_per_request:.1f}",
            _percent(s.correct_nonsemantic),
            _percent(s.correct_all),
            _percent(s.integrity),
        )
        for s in report.systems
    ]


def _path_mix(summary: SystemSummary) -> str:
    total = sum(summary.paths.values()) or 1
    return ", ".join(f"{p} {n} ({100 * n / total:.0f} %)" for p, n in summary.paths.items())


def render_markdown(report: DemoReport) -> str:
    rows = _rows(report)
    lines = [
        "# StepCache demo",
        "",
        "| " + " | ".join(_HEADER) + " |",
        "|" + "---|" * len(_HEADER),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]
    for s in report.systems:
        if s.paths:
            lines.append(f"**{s.system} path mix:** {_path_mix(s)}  ")
            lines.append(f"stale reuse: {s.stale_reuse} · over-skip: {s.over_skip}  ")
    errors = {s.system: s.errors for s in report.systems if s.errors}
    if errors:
        lines.append(f"errors: {', '.join(f'{k} {v}' for k, v in errors.items())}  ")
    lines += [
        "",
        "Correctness = the independent checker's task check *and* the stitched-output integrity check; "
        "semantic variants are counted in *correct (all)*.",
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(report.settings, indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def print_report(report: DemoReport, file: Any = None) -> None:
    """The headline table, with rich when it is installed, plain text otherwise."""
    out = file or sys.stdout
    if not (file is None and out.isatty() and _print_rich(report)):
        rows = _rows(report)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADER)]
        for row in (_HEADER, *rows):
            cells = (cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            print("  ".join(cells), file=out)
    for s in report.systems:
        if s.paths:
            print(
                f"{s.system} path mix: {_path_mix(s)}; stale reuse {s.stale_reuse}, over-skip {s.over_skip}", file=out
            )
    if report.markdown_path:
        print(f"report: {report.markdown_path}  (every request: {report.json_path})", file=out)


def _print_rich(report: DemoReport) -> bool:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is optional: the plain table says the same
        return False
    table = Table(title="StepCache demo")
    for name in _HEADER:
        table.add_column(name, justify="left" if name == "system" else "right")
    for row in _rows(report):
        table.add_row(*row)
    Console().print(table)
    return True
