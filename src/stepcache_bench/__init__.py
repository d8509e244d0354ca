"""Benchmarking StepCache: the paper-shaped workload, an independent checker, the demo and the bench.

A package of its own beside ``stepcache``, which it reaches only through the public API; its commands
join ``stepcache``'s command tree through the ``stepcache.commands`` entry-point group
(:mod:`.commands`: ``stepcache demo``, ``stepcache bench``, ``bench ttft``, ``bench loadgen``,
``bench scale``).

``workload`` generates and reads workloads (JSONL format documented there), ``checker`` judges
answers from the ground truth alone (no code shared with the engine's verifiers; ``_expr`` is the
bench's one arithmetic), ``systems`` are the compared caches (no cache, exact match, GPTCache,
StepCache), ``runner`` runs and measures them, ``report`` / ``plots`` write the results, ``demo`` and
``bench`` run the two protocols, ``scale`` times lookups on large stores, ``ttft`` and ``loadgen``
measure the proxy, ``stats`` is the one percentile, ``imperfect`` is a fake model that errs on
purpose, ``oracle`` a fake model that answers a workload from its ground truth (always right, or wrong
at a set rate), and ``templated`` makes templated documents: one sender's layout with other values,
and their mutations.
"""

from .bench import run_bench
from .checker import CheckResult, check, check_answer
from .demo import DemoReport, demo_workload, run_demo
from .imperfect import ImperfectModel
from .oracle import Oracle
from .report import BenchReport
from .runner import RequestRecord, SystemSummary
from .systems import ExactMatchCache, System
from .workload import WorkloadError, WorkloadItem, dump_workload, generate_workload, load_workload

__all__ = [
    "BenchReport",
    "CheckResult",
    "DemoReport",
    "ExactMatchCache",
    "ImperfectModel",
    "Oracle",
    "RequestRecord",
    "System",
    "SystemSummary",
    "WorkloadError",
    "WorkloadItem",
    "check",
    "check_answer",
    "demo_workload",
    "dump_workload",
    "generate_workload",
    "load_workload",
    "run_bench",
    "run_demo",
]
