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

import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stepcache import Backend, InvalidRequest

from .journal import CallJournal, journal_totals
from .latency import LatencyModel, ModelledLatency
from .plots import write_plots
from .report import BenchReport, build_report, render_markdown
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
from .workload import WorkloadItem

__all__ = ["run_bench", "rebuild", "write_outputs"]


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
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
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
        "gptcache": {
            "threshold": GPTCACHE_THRESHOLD,
            "strict_threshold": GPTCACHE_STRICT_THRESHOLD,
            "evaluation": "SearchDistanceEvaluation()",
            "vector_store": "faiss IDMap,Flat (L2)",
            "scalar_store": "sqlite (temp file)",
            "embedding": "stepcache HashedNgramEmbedder (as StepCache)",
            "key": "the last message's content (get_prompt), as its OpenAI adapter's last_content",
        },
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
        raise InvalidRequest(
            f"{out} holds no finished bench run ({exc.filename} is missing); run 'stepcache bench --out DIR' first",
            param="rebuild",
        ) from exc
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
    return (
        f"{latency.per_call_s * 1e3:g} ms per call + {latency.per_prompt_token_s * 1e3:g} ms per prompt token "
        f"+ {latency.per_completion_token_s * 1e3:g} ms per completion token"
    )


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"stepcache": stepcache_version(), "python": sys.version.split()[0]}
    for package in ("gptcache", "faiss-cpu", "numpy", "sqlalchemy", "llama-cpp-python", "matplotlib"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            continue
    return out
