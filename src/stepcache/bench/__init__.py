"""Benchmarking StepCache: the paper-shaped workload, an independent checker, and the demo runner.

``workload`` generates and reads workloads (JSONL format documented there), ``checker`` judges
answers from the ground truth alone (no code shared with the engine's verifiers), ``demo`` runs a
workload through the bare model and through StepCache, and ``imperfect`` is a fake model for the
scripted backend that errs on purpose.
"""

from .checker import CheckResult, check, check_answer
from .demo import DemoReport, demo_workload, run_demo
from .imperfect import ImperfectModel
from .workload import WorkloadError, WorkloadItem, dump_workload, generate_workload, load_workload

__all__ = [
    "CheckResult",
    "DemoReport",
    "ImperfectModel",
    "WorkloadError",
    "WorkloadItem",
    "check",
    "check_answer",
    "demo_workload",
    "dump_workload",
    "generate_workload",
    "load_workload",
    "run_demo",
]
