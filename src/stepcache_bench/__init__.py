"""Benchmarking StepCache: the paper-shaped workload, an independent checker, the demo and the bench.

``workload`` generates and reads workloads (JSONL format documented there), ``checker`` judges
answers from the ground truth alone (no code shared with the engine's verifiers), ``systems`` are
the compared caches (no cache, exact match, GPTCache, StepCache), ``runner`` runs and measures them,
``report`` / ``plots`` write the results, ``demo`` and ``bench`` are the two commands, ``scale``
times the engine's fast path on a large store, ``imperfect`` is a fake model that errs on purpose, and
``oracle`` a fake model that answers a workload from its ground truth (always right, or wrong at a set rate),
and ``templated`` makes templated documents: one sender's layout with other values, and their mutations.
"""

from .checker import CheckResult, check, check_answer
from .bench import run_bench
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
