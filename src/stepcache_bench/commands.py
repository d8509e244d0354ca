"""The benchmark's commands in ``stepcache``'s one command tree: ``stepcache demo`` and ``stepcache bench``
(with ``bench ttft``, ``bench loadgen`` and ``bench scale``).

They reach the command line through the ``stepcache.commands`` entry-point group (see
:mod:`stepcache.cli`): :func:`register` adds their subparsers, with the model options every command
shares (``--upstream``, ``--model`` the upstream's model name, ``--model-path`` the embedded model's GGUF
file, ``--threads``). This module only parses; what runs is imported when a command runs.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stepcache import InvalidRequest
from stepcache.cli import add_backend_options, backend_from_args

from ._items import DEFAULT_SEEDS
from .demo import SIZES
from .systems import DEFAULT_SYSTEMS, SYSTEMS
from .ttft import SCENARIOS

if TYPE_CHECKING:
    from stepcache import Backend

    from .workload import WorkloadItem

__all__ = ["register", "make_backend"]

#: (base prompts per task, variants per perturbation) of the bench's --quick: the demo's small size.
QUICK = SIZES["quick"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo`` and ``bench`` (and bench's own subcommands) to ``stepcache``'s command tree."""
    demo = sub.add_parser(
        "demo",
        help="the README's main job: StepCache vs the bare model on a small workload",
        description="Run a small paper-shaped workload through the bare model and through StepCache.",
    )
    demo.add_argument("--quick", action="store_true", help="a smaller workload (about 20 requests per system)")
    demo.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="where to write demo.md and demo.json (default: bench-results/demo-<timestamp>)",
    )
    demo.add_argument("--seed", type=int, default=42, help="workload seed (default: %(default)s)")
    _add_source_options(demo, scripted_help="a built-in imperfect fake model (no weights; for tests and CI)")
    demo.add_argument(
        "--store",
        choices=("sqlite", "memory"),
        default="sqlite",
        help="StepCache's store: a fresh SQLite file in a temp dir, or in memory",
    )
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(handler=_demo)

    bench = sub.add_parser(
        "bench",
        help="the paper's protocol: StepCache vs no cache, exact-match and GPTCache "
        "('bench ttft': streaming; 'bench loadgen': the proxy under load; 'bench scale': lookups on big stores)",
        description="The paper's protocol, StepCache side by side with the caches users would pick: every "
        "seed's workload through each system on the same backend, each with a fresh cache. Writes report.md, "
        "report.json, requests.jsonl and plots under --out.",
    )
    _add_bench_options(bench)
    bench.set_defaults(handler=_bench)
    bench_sub = bench.add_subparsers(title="other measures", metavar="MEASURE")
    _register_ttft(bench_sub)
    _register_loadgen(bench_sub)
    _register_scale(bench_sub)


# -- the model ----------------------------------------------------------------------------------------


def _add_source_options(parser: argparse.ArgumentParser, *, scripted_help: str) -> None:
    """``--workload`` and the model: the shared model options, or a fake (``--scripted`` | ``--oracle``),
    which :func:`make_backend` reads."""
    parser.add_argument(
        "--workload",
        metavar="FILE.jsonl",
        default=None,
        help="run your own trace instead (format: see stepcache_bench.workload)",
    )
    add_backend_options(parser)
    fake = parser.add_argument_group(
        "fake models (no weights; they take the place of --upstream and the embedded model)"
    ).add_mutually_exclusive_group()
    fake.add_argument("--scripted", action="store_true", help=scripted_help)
    fake.add_argument(
        "--oracle",
        type=_rate,
        default=None,
        metavar="RATE",
        help="a fake model that answers every request of the workload from its ground truth, "
        "wrong on a RATE share of them (0 to 1): StepCache vs a model of known accuracy",
    )


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate between 0 and 1 (e.g. --oracle 0.3)")
    return rate


def _is_fake(args: argparse.Namespace) -> bool:
    return bool(args.scripted) or args.oracle is not None


def make_backend(args: argparse.Namespace, items: Sequence[WorkloadItem] = ()) -> Backend:
    """The model the options ask for; ``items`` are the requests an ``--oracle`` answers."""
    from stepcache import ScriptedBackend

    if args.scripted:
        from .imperfect import ImperfectModel

        return ScriptedBackend(responder=ImperfectModel(seed=args.seed))
    if args.oracle is not None:
        from .oracle import Oracle

        if not items:
            raise InvalidRequest(
                "--oracle answers from the workload's ground truth: give it a workload "
                "(--workload FILE.jsonl, or the generated one)",
                param="oracle",
            )
        # which calls it gets wrong follows the seed, as for the scripted imperfect model
        return ScriptedBackend(responder=Oracle(items, error_rate=args.oracle, seed=args.seed))
    return backend_from_args(args)


def _upstream(args: argparse.Namespace) -> str | None:
    """The upstream the run used: none when a fake model stood in for it."""
    return None if _is_fake(args) else args.upstream


def _command(args: argparse.Namespace) -> str:
    return "stepcache " + " ".join(args.command_line)


# -- demo ---------------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from .demo import demo_workload, print_report, run_demo, sqlite_or_memory_cache
    from .workload import load_workload

    items = load_workload(args.workload) if args.workload else demo_workload(args.seed, quick=args.quick)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out) if args.out else Path("bench-results") / f"demo-{stamp}"
    backend = make_backend(args, items)
    settings = {
        "size": "workload file" if args.workload else ("quick" if args.quick else "default"),
        "workload": args.workload,
        "store": args.store,
        "upstream": _upstream(args),
        "oracle_error_rate": args.oracle,
        "command": _command(args),
    }
    with tempfile.TemporaryDirectory(prefix="stepcache-demo-") as tmp, backend:
        factory = sqlite_or_memory_cache(args.store, Path(tmp) / "cache.db")
        print(f"StepCache demo: {len(items)} requests per system, backend {backend.name}", file=sys.stderr)
        report = run_demo(
            factory,
            backend,
            items,
            out_dir,
            progress=not args.no_progress,
            model=args.model,
            settings=settings,
            warm_up=args.oracle is None,
        )  # the oracle answers workload items only
    print_report(report)
    return 0


# -- bench --------------------------------------------------------------------------------------------


def _add_bench_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS), help="workload seeds (default: %(default)s)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one seed, 1 base prompt per task, k = 2: 22 requests per system (the README demo size)",
    )
    parser.add_argument("--bases", type=int, default=None, metavar="N", help="base prompts per task (default 10)")
    parser.add_argument("--variants", type=int, default=None, metavar="K", help="variants per perturbation (default 3)")
    _add_source_options(
        parser, scripted_help="the built-in imperfect fake model (no weights; CI); latencies add modelled model time"
    )
    parser.add_argument(
        "--no-modelled-latency",
        action="store_true",
        help="with --scripted or --oracle: report bare wall time (microseconds) instead of modelled model time",
    )
    parser.add_argument(
        "--wrapped",
        action="store_true",
        help="add every meaning-preserving wrapping (personas, markdown, LaTeX, JSON skeletons, "
        "...) and meaning-changing mutation of the workload's items after them",
    )
    parser.add_argument(
        "--templated",
        action="store_true",
        help="templated documents instead of the paper workload: 10 layouts (order e-mails, "
        "invoices, receipts, tickets, ...) x 10 documents per seed (--quick: 3), then their "
        "mutations",
    )
    parser.add_argument(
        "--gsm",
        action="store_true",
        help="word problems instead of the paper workload: the GSM-Symbolic development set (310 "
        "problems of 46 templates, --quick: 8 templates), shuffled by the seed",
    )
    parser.add_argument(
        "--journal",
        metavar="FILE",
        default=None,
        help="record every model call in FILE (JSONL) and replay identical calls at their measured "
        "time: identical requests from different systems are generated once, and re-running an "
        "interrupted bench with the same FILE resumes it (default with --resume: OUT/model-calls.jsonl)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="journal into OUT/model-calls.jsonl (needs --out); re-run the same command to resume",
    )
    parser.add_argument(
        "--systems",
        default=",".join(DEFAULT_SYSTEMS),
        help="comma-separated, from: " + ", ".join(SYSTEMS) + " (default: %(default)s)",
    )
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="send each item to every system in turn (default: one pass per system)",
    )
    parser.add_argument(
        "--scale",
        type=int,
        nargs="*",
        default=None,
        metavar="N",
        help="also time the engine's fast path with N synthetic entries (bare --scale: 10000 100000)",
    )
    parser.add_argument("--out", metavar="DIR", default=None, help="output dir (default: bench-results/<timestamp>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--rebuild",
        metavar="DIR",
        default=None,
        help="re-judge and re-render the finished run in DIR from its records (no model calls)",
    )


def _bench(args: argparse.Namespace) -> int:
    from .bench import rebuild, run_bench
    from .journal import CallJournal
    from .latency import ModelledLatency
    from .report import print_headline

    if args.rebuild:
        report = rebuild(args.rebuild)
        print_headline(report)
        print(f"report: {Path(args.rebuild) / 'report.md'}")
        return 0
    if sum(map(bool, (args.templated, args.gsm, args.workload))) > 1:
        raise InvalidRequest(
            "--templated, --gsm and --workload FILE each choose the workload: give one of them", param="workload"
        )
    if args.resume and not args.out:
        raise InvalidRequest(
            "--resume needs --out DIR: re-run the same command with the same DIR to continue", param="resume"
        )
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    seeds: list[int] = args.seeds[:1] if args.quick else args.seeds
    workloads, size = _workloads(args, seeds)
    scale = [10_000, 100_000] if args.scale == [] else (args.scale or [])
    out_dir = Path(args.out) if args.out else Path("bench-results") / datetime.now().strftime("%Y%m%d-%H%M%S")
    args.seed = seeds[0]  # the scripted model's error pattern (make_backend reads it)
    backend: Backend = make_backend(args, [item for items in workloads.values() for item in items])
    if _is_fake(args) and not args.no_modelled_latency:
        backend = ModelledLatency(backend)
    journal = args.journal or (str(out_dir / "model-calls.jsonl") if args.resume else None)
    if journal is not None:
        backend = CallJournal(backend, journal)
    settings = {
        "size": size + (", wrapped and mutated" if args.wrapped else ""),
        "workload": args.workload,
        "wrapped": args.wrapped,
        "templated": args.templated,
        "gsm": args.gsm,
        "upstream": _upstream(args),
        "oracle_error_rate": args.oracle,
        "command": _command(args),
    }
    per_seed = sum(len(items) for items in workloads.values()) // len(workloads)
    print(
        f"StepCache bench: {len(systems)} systems x {len(workloads)} seed(s) x {per_seed} requests, "
        f"backend {backend.name}",
        file=sys.stderr,
    )
    with backend:
        report, _ = run_bench(
            backend,
            workloads,
            out_dir,
            systems=systems,
            model=args.model,
            interleave=args.interleave,
            scale=scale,
            progress=not args.no_progress,
            settings=settings,
            warm_up_model=args.oracle is None,
        )  # the oracle answers workload items only
    print_headline(report)
    print(f"report: {out_dir / 'report.md'}  (every request: {out_dir / 'requests.jsonl'})")
    return 0


def _workloads(args: argparse.Namespace, seeds: list[int]) -> tuple[dict[int | None, Sequence[WorkloadItem]], str]:
    """Seed → items for the options, and the size as the report states it."""
    from .gsm import QUICK_TEMPLATES, gsm_workload
    from .metamorphic import wrapped_workload
    from .templated import templated_mutations, templated_workload
    from .workload import generate_workload, load_workload

    bases, k = QUICK if args.quick else (10, 3)
    bases = args.bases if args.bases is not None else bases
    k = args.variants if args.variants is not None else k
    per_layout = 3 if args.quick else 10
    workloads: dict[int | None, Sequence[WorkloadItem]]
    if args.workload:
        workloads, size = {None: load_workload(args.workload)}, "workload file"
    elif args.gsm:
        templates = QUICK_TEMPLATES if args.quick else None
        workloads = {seed: gsm_workload(seed, templates=templates) for seed in seeds}
        size = f"GSM-Symbolic word problems ({templates or 'all'} templates)"
    elif args.templated:  # the mutations draw from a fixed rng per seed, as --wrapped does
        workloads = {}
        for seed in seeds:
            documents = templated_workload(seed, per_layout=per_layout)
            workloads[seed] = documents + templated_mutations(documents, random.Random(seed))
        size = f"templated: {per_layout} documents per layout, and mutations"
    else:
        workloads = {seed: generate_workload(seed, bases_per_task=bases, variants_per_perturbation=k) for seed in seeds}
        size = f"{bases} bases per task, k = {k}"
    if args.wrapped:  # a fixed rng per seed: the same command always measures the same requests
        workloads = {seed: wrapped_workload(items, random.Random(seed or 0)) for seed, items in workloads.items()}
    return workloads, size


# -- bench ttft -----------------------------------------------------------------------------------------


def _register_ttft(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ttft = sub.add_parser(
        "ttft",
        help="time to first token: straight to a streaming fake model vs through the proxy",
        description="Time to first token (issue 13): a fake streaming model and the proxy in processes of their "
        "own; per scenario, TTFT direct and through the proxy, inter-chunk gaps, and how long after the model "
        "wrote it the first text reached the client.",
    )
    ttft.add_argument("-n", "--requests", type=int, default=30, help="measured requests per scenario (default 30)")
    ttft.add_argument("--token-delay-ms", type=float, default=20.0, help="the fake model's time per token (default 20)")
    ttft.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, from: " + ", ".join(SCENARIOS))
    ttft.add_argument("--seed", type=int, default=0, help="the equations' random seed (default 0)")
    ttft.add_argument(
        "--out",
        metavar="DIR",
        default="docs/bench/ttft",
        help="where report.md, report.json and requests.jsonl go (default: %(default)s)",
    )
    ttft.set_defaults(handler=_ttft)


def _ttft(args: argparse.Namespace) -> int:
    from .ttft import run_ttft, summary_lines

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if unknown := [s for s in scenarios if s not in SCENARIOS]:
        raise InvalidRequest(
            f"--scenarios: unknown {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}", param="scenarios"
        )
    if args.requests < 1:
        raise InvalidRequest("--requests must be 1 or more", param="requests")
    report = run_ttft(
        requests=args.requests,
        token_delay_s=args.token_delay_ms / 1000,
        scenarios=scenarios,
        seed=args.seed,
        out=Path(args.out),
        command=_command(args),
        log=lambda line: print(line, file=sys.stderr),
    )
    print("\n".join(summary_lines(report)))
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


# -- bench loadgen --------------------------------------------------------------------------------------


def _register_loadgen(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    loadgen = sub.add_parser(
        "loadgen",
        help="the proxy's reuse path under load: added latency and throughput over loopback",
        description="Look-alike equations, every one a cache reuse, against a running proxy (--url) or one "
        "started for the run; latency with one client, throughput with --concurrency clients. Prints JSON.",
    )
    loadgen.add_argument("--url", help="a running proxy (default: start one in a subprocess)")
    loadgen.add_argument("--requests", type=int, default=3000, help="requests in the throughput run (default 3000)")
    loadgen.add_argument("--concurrency", type=int, default=32, help="simultaneous clients (default 32)")
    loadgen.add_argument(
        "--latency-samples", type=int, default=1000, help="sequential requests for latency (default 1000)"
    )
    loadgen.add_argument("--client", choices=["raw", "httpx"], default="raw", help="HTTP client of the generator")
    loadgen.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the self-hosted proxy")
    loadgen.add_argument(
        "--store",
        metavar="URL",
        help="store of the self-hosted proxy (default: memory://, or a temporary SQLite file for --workers > 1)",
    )
    loadgen.set_defaults(handler=_loadgen)


def _loadgen(args: argparse.Namespace) -> int:
    import json

    from .loadgen import run_loadgen

    report = run_loadgen(
        args.url,
        requests=args.requests,
        concurrency=args.concurrency,
        latency_samples=args.latency_samples,
        client=args.client,
        workers=args.workers,
        store=args.store,
    )
    print(json.dumps(report, indent=2))
    return 0 if not report["errors"] else 1


# -- bench scale ----------------------------------------------------------------------------------------


def _register_scale(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scale = sub.add_parser(
        "scale",
        help="how a store's vector search scales: fill it with synthetic entries, time nearest()",
        description="Fill a store with N synthetic entries (clustered vectors, three families) and time "
        "nearest(), with and without a family filter, and its recall@k. With --postgres URL: bulk-load a "
        "PostgreSQL store, build its HNSW index once and search it at each --ef-search. One JSON line per result.",
    )
    scale.add_argument(
        "--entries", type=int, nargs="+", default=[10_000], metavar="N", help="store sizes (default: 10000)"
    )
    scale.add_argument("--dim", type=int, default=384, help="vector dimension (default 384)")
    scale.add_argument("--queries", type=int, default=300, help="searches timed per size (default 300)")
    scale.add_argument("--k", type=int, default=4, help="neighbours per search (default 4)")
    where = scale.add_mutually_exclusive_group()
    where.add_argument(
        "--store",
        metavar="URL",
        default="sqlite:///:memory:",
        help="store URL, {n} replaced by the size (default: %(default)s)",
    )
    where.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server with pgvector: each size in a fresh schema (needs stepcache[postgres])",
    )
    scale.add_argument(
        "--ef-search",
        type=int,
        nargs="+",
        default=[40, 64, 100],
        metavar="EF",
        help="with --postgres: HNSW search breadths to measure (default: 40 64 100)",
    )
    scale.add_argument("--tenants", type=int, default=1, help="with --postgres: namespaces the entries spread over")
    scale.add_argument("--spread", type=float, default=0.6, help="cluster noise; larger is harder (default 0.6)")
    scale.set_defaults(handler=_scale)


def _scale(args: argparse.Namespace) -> int:
    from stepcache import open_store

    from .scale import measure_nearest, measure_postgres

    for n in args.entries:
        if args.postgres:
            results = measure_postgres(
                args.postgres,
                n,
                dim=args.dim,
                k=args.k,
                queries=args.queries,
                ef_search=tuple(args.ef_search),
                tenants=args.tenants,
                spread=args.spread,
            )
        else:
            url = args.store.replace("{n}", str(n))
            with open_store(url) as store:
                results = [
                    measure_nearest(
                        store,
                        n,
                        dim=args.dim,
                        queries=args.queries,
                        k=args.k,
                        spread=args.spread,
                        name=url.split(":", 1)[0],
                    )
                ]
        for result in results:
            print(result.model_dump_json(), flush=True)
    return 0
