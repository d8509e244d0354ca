"""PNG plots of a bench run (matplotlib, Agg backend: no display needed).

:func:`write_plots` draws four figures into the run's directory and returns ``{name: file name}``:
latency CDF per system, StepCache's path mix per seed, upstream tokens per request per system, and
correctness per system (non-semantic, semantic, all).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stepcache import MissingDependency

from .report import BenchReport, records_by_system
from .runner import PATHS, RequestRecord

__all__ = ["write_plots"]

_PATH_COLOURS = {"reuse": "#2a9d8f", "patch": "#e9c46a", "skip": "#f4a261", "miss": "#e76f51", "bypass": "#999999"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependency("matplotlib", "bench", "The bench plots") from exc
    matplotlib.use("Agg")  # files only; never open a window (CI, servers)
    import matplotlib.pyplot as plt

    return plt


def write_plots(report: BenchReport, records: Sequence[RequestRecord], out_dir: str | Path) -> dict[str, str]:
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    grouped = records_by_system(records)
    order = [h.system for h in report.headline if h.system in grouped]
    written: dict[str, str] = {}

    def save(fig: Any, name: str, title: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written[title] = name

    # latency CDF
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in order:
        values = sorted(max(r.latency_s, 1e-6) for r in grouped[name])
        ax.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("latency (s, log scale)")
    ax.set_ylabel("share of requests")
    ax.set_title("Latency CDF per system (all seeds)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    save(fig, "latency_cdf.png", "latency CDF")

    # StepCache path mix per seed
    stepcache = [n for n in order if any(r.path for r in grouped[n])]
    if stepcache:
        name = stepcache[0]
        seeds = list(report.per_seed)
        fig, ax = plt.subplots(figsize=(6, 4))
        bottom = [0.0] * len(seeds)
        for path in PATHS:
            counts = [sum(1 for r in grouped[name] if str(r.seed) == s and r.path == path) for s in seeds]
            if any(counts):
                ax.bar(seeds, counts, bottom=bottom, label=path, color=_PATH_COLOURS[path])
                bottom = [b + c for b, c in zip(bottom, counts)]
        ax.set_xlabel("seed")
        ax.set_ylabel("requests")
        ax.set_title(f"{name} path mix")
        ax.legend(fontsize=8)
        save(fig, "path_mix.png", "path mix")

    # tokens per request
    fig, ax = plt.subplots(figsize=(7, 4))
    means = [sum(r.tokens for r in grouped[n]) / len(grouped[n]) for n in order]
    bars = ax.bar(order, means, color="#457b9d")
    ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_ylabel("upstream tokens per request (prompt + completion)")
    ax.set_title("Upstream tokens per request")
    ax.tick_params(axis="x", labelrotation=15, labelsize=8)
    save(fig, "tokens_per_request.png", "tokens per request")

    # correctness
    fig, ax = plt.subplots(figsize=(7.5, 4))
    groups = (("non-semantic", False), ("semantic", True), ("all", None))
    width = 0.26
    for g, (label, semantic) in enumerate(groups):
        shares = []
        for n in order:
            checked = [r for r in grouped[n] if r.ok is not None and (semantic is None or r.semantic == semantic)]
            shares.append(100 * sum(bool(r.ok) for r in checked) / len(checked) if checked else 0.0)
        ax.bar([i + (g - 1) * width for i in range(len(order))], shares, width, label=label)
    ax.set_xticks(range(len(order)), order, rotation=15, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("correct and intact (%)")
    ax.set_title("Correctness under the independent checker")
    ax.legend(fontsize=8, loc="lower left")
    save(fig, "correctness.png", "correctness")
    return written
