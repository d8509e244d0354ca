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

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from stepcache import Backend, ChatRequest, InvalidRequest, Result
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
from .workload import WorkloadItem, generate_workload, load_workload

__all__ = [
    "DemoRecord",
    "SystemSummary",
    "DemoReport",
    "SupportsComplete",
    "demo_workload",
    "run_demo",
    "build_parser",
    "main",
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
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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
    from stepcache import MemoryStore, StepCache

    return StepCache(backend, store=MemoryStore())


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
            print(f"{s.system} path mix: {_path_mix(s)}; stale reuse {s.stale_reuse}, over-skip {s.over_skip}", file=out)
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


# -- command line -----------------------------------------------------------------------------------


def build_parser(prog: str = "stepcache demo") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a small paper-shaped workload through the bare model and through StepCache.",
    )
    parser.add_argument("--quick", action="store_true", help="a smaller workload (about 20 requests per system)")
    parser.add_argument("--out", metavar="DIR", default=None, help="where to write demo.md and demo.json "
                        "(default: bench-results/demo-<timestamp>)")
    parser.add_argument("--seed", type=int, default=42, help="workload seed (default: %(default)s)")
    add_source_arguments(parser, scripted_help="a built-in imperfect fake model (no weights; for tests and CI)")
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite",
                        help="StepCache's store: a fresh SQLite file in a temp dir, or in memory")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def add_source_arguments(parser: argparse.ArgumentParser, *, scripted_help: str) -> None:
    """``--workload`` and the backend flags (``--upstream`` | ``--scripted`` | ``--oracle``, ``--model``,
    ``--api-key``) that :func:`make_backend` reads; the demo and bench commands share them."""
    parser.add_argument("--workload", metavar="FILE.jsonl", default=None,
                        help="run your own trace instead (format: see stepcache_bench.workload)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--upstream", metavar="URL", default=None,
                        help="an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (default: the embedded model)")
    source.add_argument("--scripted", action="store_true", help=scripted_help)
    source.add_argument("--oracle", type=_rate, default=None, metavar="RATE",
                        help="a fake model that answers every request of the workload from its ground truth, "
                             "wrong on a RATE share of them (0 to 1): StepCache vs a model of known accuracy")
    parser.add_argument("--model", metavar="NAME", default=None,
                        help="model name for --upstream, or a GGUF file path for the embedded backend")
    parser.add_argument("--api-key", default=None, help="API key for --upstream (default: $OPENAI_API_KEY)")


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate between 0 and 1 (e.g. --oracle 0.3)")
    return rate


def is_fake(args: argparse.Namespace) -> bool:
    """The flags ask for a model without weights (``--scripted`` or ``--oracle``)."""
    return bool(args.scripted) or args.oracle is not None


def requested_model(args: argparse.Namespace) -> str | None:
    """The model name to send with requests: none for the embedded backend (``--model`` is its file)."""
    return None if (args.upstream is None and not is_fake(args)) else args.model


def make_backend(args: argparse.Namespace, items: Sequence[WorkloadItem] = ()) -> Backend:
    """The backend the flags ask for; ``items`` are the requests an ``--oracle`` answers. The bench
    command uses the same rules."""
    if args.scripted:
        from stepcache import ScriptedBackend
        from .imperfect import ImperfectModel

        return ScriptedBackend(responder=ImperfectModel(seed=args.seed))
    if args.oracle is not None:
        from stepcache import ScriptedBackend
        from .oracle import Oracle

        if not items:
            raise InvalidRequest("--oracle answers from the workload's ground truth: give it a workload "
                                 "(--workload FILE.jsonl, or the generated one)", param="oracle")
        # which calls it gets wrong follows the seed, as for the scripted imperfect model
        return ScriptedBackend(responder=Oracle(items, error_rate=args.oracle, seed=args.seed))
    if args.upstream:
        from stepcache import OpenAIHTTPBackend

        api_key = args.api_key or os.environ.get("OPENAI_API_KEY")
        return OpenAIHTTPBackend(args.upstream, api_key=api_key, model=args.model)
    from stepcache import LlamaCppBackend

    # Without an upstream, --model names a GGUF file for the embedded model.
    return LlamaCppBackend(args.model or None)


def main(argv: Sequence[str] | None = None) -> int:
    """``stepcache demo``. StepCache errors propagate, so the CLI's edge maps them to exit codes."""
    args = build_parser().parse_args(argv)
    items = load_workload(args.workload) if args.workload else demo_workload(args.seed, quick=args.quick)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out) if args.out else Path("bench-results") / f"demo-{stamp}"
    backend = make_backend(args, items)
    model = requested_model(args)
    settings = {
        "size": "workload file" if args.workload else ("quick" if args.quick else "default"),
        "workload": args.workload,
        "store": args.store,
        "upstream": args.upstream,
        "oracle_error_rate": args.oracle,
        "command": "stepcache demo " + " ".join(argv if argv is not None else sys.argv[2:]),
    }
    with tempfile.TemporaryDirectory(prefix="stepcache-demo-") as tmp, backend:
        factory = _factory(args.store, Path(tmp) / "cache.db")
        print(f"StepCache demo: {len(items)} requests per system, backend {backend.name}", file=sys.stderr)
        report = run_demo(factory, backend, items, out_dir, progress=not args.no_progress, model=model,
                          settings=settings, warm_up=args.oracle is None)  # the oracle answers workload items only
    print_report(report)
    return 0


def _factory(kind: str, path: Path) -> Callable[[Backend], SupportsComplete]:
    def build(backend: Backend) -> SupportsComplete:
        from stepcache import StepCache

        if kind == "memory":
            from stepcache import MemoryStore

            return StepCache(backend, store=MemoryStore())
        from stepcache import SQLiteStore

        return StepCache(backend, store=SQLiteStore(path))

    return build
