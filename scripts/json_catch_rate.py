"""How many of a faulty model's wrong JSON answers StepCache's checks catch, by kind of mistake.

Every JSON item of a workload is answered by the scripted oracle at a set error rate (the answers a
model gives when called directly); each wrong answer is classified by what it got wrong (a number, a
date or time, a value from a neighbouring field, a boolean, an ID cut short, a typo, null for a value
the text gives, a missing key) and verified by the JSON family. *Caught* means verification fails on
the wrong key (or reports it missing), so StepCache repairs that key instead of serving or storing it.

    .venv/bin/python scripts/json_catch_rate.py                      # templated documents, seeds 42-44
    .venv/bin/python scripts/json_catch_rate.py tests/data/validation.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from stepcache import ChatRequest
from stepcache.families.json_family import JsonFamily
from stepcache_bench.oracle import Oracle
from stepcache_bench.templated import templated_workload
from stepcache_bench.workload import JsonTruth, WorkloadItem, load_workload

_DATE_LIKE = ("-", ":")


def mistake(truth: JsonTruth, answer: dict[str, Any]) -> tuple[str, str] | None:
    """(kind of mistake, key) for the first key the answer gets wrong, or None when it is right."""
    for key in truth.required_keys:
        want = truth.expected.get(key)
        if key not in answer:
            return "missing key", key
        got = answer[key]
        if _same(got, want):
            continue
        others = [v for k, v in truth.expected.items() if k != key]
        if any(_same(got, v) for v in others if v is not None):
            return "neighbouring field", key
        if got is None:
            return "null for a value", key
        if isinstance(want, bool) or isinstance(got, bool):
            return "boolean", key
        if isinstance(want, (int, float)) and not isinstance(want, bool):
            return "number", key
        if isinstance(want, str) and any(c in want for c in _DATE_LIKE) and any(ch.isdigit() for ch in want):
            return "date or time", key
        if isinstance(want, str) and isinstance(got, str) and got and got in want:
            return "cut short", key
        return "typo or other", key
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.casefold().split()) == " ".join(b.casefold().split())
    if (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return abs(float(a) - float(b)) < 1e-9
    return bool(a == b)


def measure(items: Sequence[WorkloadItem], seeds: Sequence[int], rate: float = 0.3) -> dict[str, Counter[str]]:
    family = JsonFamily()
    counts: dict[str, Counter[str]] = {}
    jsons = [i for i in items if isinstance(i.truth, JsonTruth)]
    for seed in seeds:
        oracle = Oracle(items, error_rate=rate, seed=seed)
        for item in jsons:
            assert isinstance(item.truth, JsonTruth)
            request = item.request.chat_request(model="m")
            answer_text = oracle(item.request.backend_request("m"))
            try:
                answer = json.loads(answer_text)
            except ValueError:
                continue
            found = mistake(item.truth, answer)
            if found is None:
                continue
            kind, key = found
            task = family.detect(ChatRequest.model_validate(request.model_dump()))
            if task is None:
                continue
            steps = family.segment(task, answer_text)
            report = family.verify(task, steps)
            keys = [json.loads("{" + steps[s.index] + "}") for s in report.steps if not s.ok]
            flagged = any(key in k for k in keys) or any(repr(key) in p for p in report.problems)
            tally = counts.setdefault(kind, Counter())
            tally["wrong"] += 1
            tally["caught"] += flagged
    return counts


def main(argv: Sequence[str]) -> int:
    if argv:
        items: list[WorkloadItem] = load_workload(argv[0])
        seeds = [42, 43, 44]
    else:
        items = [i for seed in (42, 43, 44) for i in templated_workload(seed)]
        seeds = [0, 1, 2]
    counts = measure(items, seeds)
    print(f"{'mistake':<22} {'wrong':>6} {'caught':>7} {'share':>7}")
    total = Counter[str]()
    for kind, tally in sorted(counts.items(), key=lambda kv: -kv[1]["wrong"]):
        total.update(tally)
        print(f"{kind:<22} {tally['wrong']:>6} {tally['caught']:>7} {tally['caught'] / tally['wrong']:>7.0%}")
    print(f"{'all':<22} {total['wrong']:>6} {total['caught']:>7} {total['caught'] / max(1, total['wrong']):>7.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
