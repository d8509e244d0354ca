"""``stepcache bench``: the paper's protocol, StepCache side by side with the caches users would pick.

Every seed's paper-shaped workload (or your ``--workload FILE.jsonl``) goes through each system —
no cache, an exact-match cache, GPTCache at its documented threshold and a stricter one, StepCache —
on the same backend, each with a fresh cache. Writes ``bench-results/<timestamp>/``: ``report.md``
(headline table, targets met / missed and why, per-seed tables, settings), ``report.json``,
``requests.jsonl`` (every request) and PNG plots; prints the headline table.

Sizes (requests per seed per system): full 320 (10 base prompts per task, k = 3); ``--quick`` 22
(one seed, 1 base prompt per task, k = 2); ``--bases N --variants K`` for anything in between
(``2 · N · (1 + 5K)`` requests). Run time on the embedded 0.5B model, 2 cores: about (model calls)
× 4 s. On the scripted run the systems made 1.0 (no cache), 1.0 (exact), 0.08 (GPTCache 0.8), 0.72
(GPTCache 0.95) and ~0.4 (StepCache, with repairs) model calls per request, ≈ 3.2 per item: the full
protocol (3 × 320 items) ≈ 3,100 calls ≈ 6 h; with ``--resume`` (or ``--journal``) identical calls are
generated once (:mod:`~stepcache_bench.journal`), and the full protocol took 2 h 05 min (1,099 distinct
calls); ``--seeds 42 --bases 2`` (64 items) ≈ 15 min; ``--quick`` (22 items) ≈ 5 min.

``--wrapped`` adds, after each seed's items, every meaning-preserving wrapping and meaning-changing
mutation of them (:mod:`~stepcache_bench.metamorphic`, a fixed rng per seed): about 13× the items
(``--quick``: 22 → ~300). ``--oracle RATE`` replaces the model with one that answers every item from
its ground truth and is wrong on a RATE share of them, so any workload with truths measures
StepCache against a model of known accuracy, e.g.
``stepcache bench --workload tests/data/phrasings.jsonl --oracle 0.3 --systems nocache,stepcache``.

``--templated`` replaces each seed's paper-shaped workload with templated documents
(:mod:`~stepcache_bench.templated`: 10 layouts × 10 documents, ``--quick`` 3, each layout's first
document first) followed by their mutations (a label renamed, a field moved, a look-alike added, values
swapped, a field removed): about 140 requests per seed. The report adds, per layout, how StepCache answered
the later documents of a layout (reuse or patch, tokens, correctness, wrong answers).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stepcache import Backend, InvalidRequest
from .demo import SIZES, add_source_arguments, is_fake, make_backend, requested_model
from .journal import CallJournal, journal_totals
from .latency import LatencyModel, ModelledLatency
from .metamorphic import wrapped_workload
from .plots import write_plots
from .report import BenchReport, build_report, print_headline, render_markdown
from .runner import (
    RequestRecord,
    machine_info,
    model_or_default,
    progress_bar,
    run_systems,
    stepcache_version,
    warm_up,
)
from .scale import ScaleResult, measure_fast_path
from .systems import DEFAULT_SYSTEMS, GPTCACHE_STRICT_THRESHOLD, GPTCACHE_THRESHOLD, SYSTEMS, System
from .gsm import QUICK_TEMPLATES, gsm_workload
from .templated import templated_mutations, templated_workload
from .workload import DEFAULT_SEEDS, WorkloadItem, generate_workload, load_workload

__all__ = ["run_bench", "rebuild", "write_outputs", "build_parser", "main"]


def run_bench(
    backend: Backend,
    workloads: dict[int | None, Sequence[WorkloadItem]],
    out_dir: str | Path | None,
    *,
    systems: Sequence[str] = DEFAULT_SYSTEMS,
    model: str | None = None,
    interleave: bool = False,
    scale: Sequence[int] = (),
    progress: bool = True,
    settings: dict[str, Any] | None = None,
    warm_up_model: bool = True,
) -> tuple[BenchReport, list[RequestRecord]]:
    """Run ``workloads`` (seed → items) through ``systems`` (keys of :data:`SYSTEMS`); report and write.

    Each (seed, system) gets a fresh cache in its own temp dir. ``backend`` stays the caller's to
    close. ``out_dir=None`` writes nothing (no plots). Backend and verification errors are recorded
    per request, not raised.
    """
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise InvalidRequest(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}", param="systems")
    if not workloads or not any(workloads.values()):
        raise ValueError("the workload is empty")
    model = model_or_default(backend, model)
    clock = None
    if isinstance(backend, (ModelledLatency, CallJournal)):
        modelled = backend
        clock = lambda: modelled.modelled_s  # noqa: E731 - read before and after each request
    started = time.perf_counter()
    # A journal would replay the warm-up call; the model itself must load before the first request.
    live = backend.inner if isinstance(backend, CallJournal) else backend
    warm_up_s = warm_up(live, model) if warm_up_model else None
    records: list[RequestRecord] = []
    names: list[str] = []
    total = sum(len(items) for items in workloads.values()) * len(systems)
    with progress_bar(total, progress, "bench") as bar, tempfile.TemporaryDirectory(prefix="stepcache-bench-") as tmp:
        for seed, items in workloads.items():
            built: list[System] = []
            try:
                for key in systems:
                    workdir = Path(tmp) / f"{seed}-{key}"
                    workdir.mkdir()
                    built.append(SYSTEMS[key](backend, workdir))
                names = [s.name for s in built]
                records += run_systems(built, items, model, seed=seed, interleave=interleave, clock=clock, bar=bar)
            finally:
                for system in built:
                    system.close()
    scale_results: list[ScaleResult] = []
    for entries in scale:
        print(f"scale: filling a store with {entries:,} synthetic entries ...", file=sys.stderr)
        scale_results.append(measure_fast_path(entries))
    info: dict[str, Any] = {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 1),
        "backend": getattr(backend, "name", type(backend).__name__),
        "model": model,
        "seeds": [s for s in workloads],
        "requests_per_seed": sorted({len(items) for items in workloads.values()}),
        "systems": names,
        "interleave": interleave,
        "warm_up_s": None if warm_up_s is None else round(warm_up_s, 3),
        "latency_model": _describe(backend.latency) if isinstance(backend, ModelledLatency) else None,
        "journal": backend.describe() if isinstance(backend, CallJournal) else None,
        "gptcache": {"threshold": GPTCACHE_THRESHOLD, "strict_threshold": GPTCACHE_STRICT_THRESHOLD,
                     "evaluation": "SearchDistanceEvaluation()", "vector_store": "faiss IDMap,Flat (L2)",
                     "scalar_store": "sqlite (temp file)", "embedding": "stepcache HashedNgramEmbedder (as StepCache)",
                     "key": "the last message's content (get_prompt), as its OpenAI adapter's last_content"},
        "stepcache_store": "SQLiteStore (temp file), HashedNgramEmbedder, default CacheConfig",
        "versions": _versions(),
        "machine": machine_info(),
        **(settings or {}),
    }
    report = build_report(records, names, info, scale_results)
    if out_dir is not None:
        write_outputs(report, records, Path(out_dir))
    else:
        report.markdown = render_markdown(report)
    return report, records


def write_outputs(report: BenchReport, records: Sequence[RequestRecord], out: Path) -> None:
    """``requests.jsonl``, the plots, ``report.md`` and ``report.json`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "requests.jsonl").open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(record.model_dump_json() + "\n")
    report.plots = write_plots(report, records, out)
    report.markdown = render_markdown(report)
    (out / "report.md").write_text(report.markdown, encoding="utf-8")
    (out / "report.json").write_text(report.model_dump_json(indent=2, exclude={"markdown"}), encoding="utf-8")


def rebuild(out_dir: str | Path) -> BenchReport:
    """Judge and render a finished run again from its ``requests.jsonl`` and ``report.json``.

    Nothing is re-run: the records and the run's settings are read back, so a report can pick up a
    newer report format (or a fixed judgement) without the hours of model time behind it.
    """
    out = Path(out_dir)
    try:
        previous = json.loads((out / "report.json").read_text(encoding="utf-8"))
        lines = (out / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InvalidRequest(f"{out} holds no finished bench run ({exc.filename} is missing); "
                             "run 'stepcache bench --out DIR' first", param="rebuild") from exc
    records = [RequestRecord.model_validate_json(line) for line in lines if line.strip()]
    settings = dict(previous["settings"])
    journal = settings.get("journal")
    if journal and "recorded_calls" not in journal and Path(journal["file"]).exists():
        settings["journal"] = {**journal, **journal_totals(journal["file"])}
    systems = list(settings.get("systems") or dict.fromkeys(r.system for r in records))
    scale = [ScaleResult.model_validate(m) for m in previous.get("scale", [])]
    report = build_report(records, systems, settings, scale)
    write_outputs(report, records, out)
    return report


def _describe(latency: LatencyModel) -> str:
    return (f"{latency.per_call_s * 1e3:g} ms per call + {latency.per_prompt_token_s * 1e3:g} ms per prompt token "
            f"+ {latency.per_completion_token_s * 1e3:g} ms per completion token")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"stepcache": stepcache_version(), "python": sys.version.split()[0]}
    for package in ("gptcache", "faiss-cpu", "numpy", "sqlalchemy", "llama-cpp-python", "matplotlib"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            continue
    return out


# -- command line -----------------------------------------------------------------------------------


def build_parser(prog: str = "stepcache bench") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0].replace("``", "'"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                        help="workload seeds (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="one seed, 1 base prompt per task, k = 2: 22 requests per system (the README demo size)")
    parser.add_argument("--bases", type=int, default=None, metavar="N", help="base prompts per task (default 10)")
    parser.add_argument("--variants", type=int, default=None, metavar="K", help="variants per perturbation (default 3)")
    add_source_arguments(
        parser, scripted_help="the built-in imperfect fake model (no weights; CI); latencies add modelled model time"
    )
    parser.add_argument("--no-modelled-latency", action="store_true",
                        help="with --scripted or --oracle: report bare wall time (microseconds) instead of "
                             "modelled model time")
    parser.add_argument("--wrapped", action="store_true",
                        help="add every meaning-preserving wrapping (personas, markdown, LaTeX, JSON skeletons, "
                             "...) and meaning-changing mutation of the workload's items after them")
    parser.add_argument("--templated", action="store_true",
                        help="templated documents instead of the paper workload: 10 layouts (order e-mails, "
                             "invoices, receipts, tickets, ...) x 10 documents per seed (--quick: 3), then their "
                             "mutations")
    parser.add_argument("--gsm", action="store_true",
                        help="word problems instead of the paper workload: the GSM-Symbolic development set (310 "
                             "problems of 46 templates, --quick: 8 templates), shuffled by the seed")
    parser.add_argument("--journal", metavar="FILE", default=None,
                        help="record every model call in FILE (JSONL) and replay identical calls at their measured "
                             "time: identical requests from different systems are generated once, and re-running an "
                             "interrupted bench with the same FILE resumes it (default with --resume: OUT/model-calls.jsonl)")
    parser.add_argument("--resume", action="store_true",
                        help="journal into OUT/model-calls.jsonl (needs --out); re-run the same command to resume")
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                        help="comma-separated, from: " + ", ".join(SYSTEMS) + " (default: all)")
    parser.add_argument("--interleave", action="store_true",
                        help="send each item to every system in turn (default: one pass per system)")
    parser.add_argument("--scale", type=int, nargs="*", default=None, metavar="N",
                        help="also time the engine's fast path with N synthetic entries (bare --scale: 10000 100000)")
    parser.add_argument("--out", metavar="DIR", default=None, help="output dir (default: bench-results/<timestamp>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--rebuild", metavar="DIR", default=None,
                        help="re-judge and re-render the finished run in DIR from its records (no model calls)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``stepcache bench``. StepCache errors propagate, so the CLI's edge maps them to exit codes."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.rebuild:
        report = rebuild(args.rebuild)
        print_headline(report)
        print(f"report: {Path(args.rebuild) / 'report.md'}")
        return 0
    if sum(map(bool, (args.templated, args.gsm, args.workload))) > 1:
        parser.error("--templated, --gsm and --workload FILE each choose the workload: give one of them")
    if args.resume and not args.out:
        parser.error("--resume needs --out DIR: re-run the same command with the same DIR to continue")
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    bases, k = SIZES["quick"] if args.quick else (10, 3)
    bases = args.bases if args.bases is not None else bases
    k = args.variants if args.variants is not None else k
    seeds: list[int] = args.seeds[:1] if args.quick else args.seeds
    workloads: dict[int | None, Sequence[WorkloadItem]]
    per_layout = 3 if args.quick else 10
    if args.workload:
        workloads = {None: load_workload(args.workload)}
    elif args.gsm:
        workloads = {seed: gsm_workload(seed, templates=QUICK_TEMPLATES if args.quick else None) for seed in seeds}
    elif args.templated:  # the mutations draw from a fixed rng per seed, as --wrapped does
        workloads = {}
        for seed in seeds:
            documents = templated_workload(seed, per_layout=per_layout)
            workloads[seed] = documents + templated_mutations(documents, random.Random(seed))
    else:
        workloads = {seed: generate_workload(seed, bases_per_task=bases, variants_per_perturbation=k) for seed in seeds}
    if args.wrapped:  # a fixed rng per seed: the same command always measures the same requests
        workloads = {seed: wrapped_workload(items, random.Random(seed or 0)) for seed, items in workloads.items()}
    scale = [10_000, 100_000] if args.scale == [] else (args.scale or [])
    out_dir = Path(args.out) if args.out else Path("bench-results") / datetime.now().strftime("%Y%m%d-%H%M%S")
    args.seed = seeds[0]  # the scripted model's error pattern (make_backend reads it)
    backend: Backend = make_backend(args, [item for items in workloads.values() for item in items])
    if is_fake(args) and not args.no_modelled_latency:
        backend = ModelledLatency(backend)
    journal = args.journal or (str(out_dir / "model-calls.jsonl") if args.resume else None)
    if journal is not None:
        backend = CallJournal(backend, journal)
    model = requested_model(args)
    settings = {
        "size": ("workload file" if args.workload else
                 f"templated: {per_layout} documents per layout, and mutations" if args.templated else
                 f"GSM-Symbolic word problems ({QUICK_TEMPLATES if args.quick else 'all'} templates)" if args.gsm else
                 f"{bases} bases per task, k = {k}")
        + (", wrapped and mutated" if args.wrapped else ""),
        "workload": args.workload,
        "wrapped": args.wrapped,
        "templated": args.templated,
        "gsm": args.gsm,
        "upstream": args.upstream,
        "oracle_error_rate": args.oracle,
        "command": "stepcache bench " + " ".join(argv if argv is not None else sys.argv[2:]),
    }
    per_seed = sum(len(items) for items in workloads.values()) // len(workloads)
    print(f"StepCache bench: {len(systems)} systems x {len(workloads)} seed(s) x {per_seed} requests, "
          f"backend {backend.name}", file=sys.stderr)
    with backend:
        report, _ = run_bench(backend, workloads, out_dir, systems=systems, model=model, interleave=args.interleave,
                              scale=scale, progress=not args.no_progress, settings=settings,
                              warm_up_model=args.oracle is None)  # the oracle answers workload items only
    print_headline(report)
    print(f"report: {out_dir / 'report.md'}  (every request: {out_dir / 'requests.jsonl'})")
    return 0

