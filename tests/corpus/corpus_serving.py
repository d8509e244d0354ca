"""One corpus served in file order through one StepCache whose model is the corpus's oracle: what was
served on which path, and what was wrong. Shared by the end-to-end corpus tests (test_*_corpus.py).

The module name is unique on purpose: tests/ has no packages, so it is imported by its bare name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from stepcache import MemoryStore, ScriptedBackend, StepCache, StepCacheError
from stepcache_bench.checker import check
from stepcache_bench.oracle import Oracle
from stepcache_bench.workload import WorkloadItem

MODEL = "m"


@dataclass
class Run:
    paths: Counter[str] = field(default_factory=Counter)
    path_of: dict[str, str] = field(default_factory=dict)
    served: dict[str, str] = field(default_factory=dict)
    wrong: dict[str, tuple[str, tuple[str, ...], str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    by_task: Counter[tuple[str, str]] = field(default_factory=Counter)

    def wrong_report(self) -> list[str]:
        return [f"{id} ({path}): {'; '.join(why)}\n    {text!r}" for id, (path, why, text) in self.wrong.items()]


def serve(oracle: Oracle, items: list[WorkloadItem]) -> Run:
    """The whole corpus, in file order, through one StepCache."""
    run = Run()
    cache = StepCache(ScriptedBackend(responder=oracle), store=MemoryStore())
    for item in items:
        try:
            result = cache.complete(item.request.chat_request(model=MODEL))
        except StepCacheError as exc:
            run.errors[item.id] = f"{type(exc).__name__}: {exc}"
            continue
        run.paths[result.path.value] += 1
        run.path_of[item.id] = result.path.value
        run.by_task[(item.task, result.path.value)] += 1
        run.served[item.id] = result.text
        verdict = check(item, result.text)
        if not verdict.ok:
            run.wrong[item.id] = (result.path.value, verdict.reasons, result.text[:200])
    return run


def right_alone(oracle: Oracle, items: list[WorkloadItem]) -> set[str]:
    """The items the oracle answers right when called directly, without StepCache."""
    return {item.id for item in items if check(item, oracle(item.request.backend_request(MODEL))).ok}


def right_served(run: Run, items: list[WorkloadItem]) -> set[str]:
    return {item.id for item in items if item.id in run.served and check(item, run.served[item.id]).ok}
