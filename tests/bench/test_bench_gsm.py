"""Word problems in the benchmark: the GSM workload, the oracle's answers and slips, the checker, and
``stepcache bench --gsm`` end to end (scripted, fast)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from bench_cli import bench

from stepcache import BackendRequest
from stepcache_bench.checker import check, check_answer
from stepcache_bench.gsm import gsm_problems, gsm_workload
from stepcache_bench.oracle import Oracle
from stepcache_bench.workload import ArithmeticTruth


def test_the_workload_holds_every_problem_once_first_instances_marked_base() -> None:
    items = gsm_workload(42)
    rows = gsm_problems()
    assert len(items) == len(rows) == 310
    assert len({i.id for i in items}) == 310
    seen: set[str] = set()
    bases = 0
    for item in items:
        template = item.perturbation.split(":")[-1]
        if item.perturbation == "base":
            bases += 1
            seen.add(item.id)
        else:
            assert item.base_id in seen and item.perturbation.startswith("template:") and template.isdigit()
        assert (item.task, item.family, item.semantic) == ("arithmetic", "arithmetic", False)
        assert isinstance(item.truth, ArithmeticTruth)
    assert bases == len({r["template"] for r in rows}) == 46


def test_the_order_depends_on_the_seed_and_quick_takes_fewer_templates() -> None:
    assert [i.id for i in gsm_workload(1)] != [i.id for i in gsm_workload(2)]
    assert [i.id for i in gsm_workload(7)] == [i.id for i in gsm_workload(7)]
    quick = gsm_workload(42, templates=8)
    assert sum(i.perturbation == "base" for i in quick) == 8


def test_the_checker_reads_the_stated_answer() -> None:
    truth = ArithmeticTruth(answer="1,260", solution="")
    assert check_answer(truth, "So he makes 2520*$0.5=$1260 every week\nThe answer is 1260.").ok
    assert check_answer(truth, "...\n#### 1,260").ok
    assert check_answer(truth, "He makes $1,260.").ok  # no answer line: the last number
    wrong = check_answer(truth, "The answer is 1250.")
    assert not wrong.ok and "expected 1260" in wrong.reasons[0]
    assert not check_answer(truth, "I cannot tell.").ok


def test_the_oracle_answers_with_the_reference_and_continues_from_a_step() -> None:
    items = gsm_workload(42, templates=3)
    oracle = Oracle(items)
    item = items[0]
    assert isinstance(item.truth, ArithmeticTruth)
    answer = oracle(item.request.backend_request("m"))
    assert check(item, answer).ok and answer.startswith("1. ")
    lines = item.truth.solution.splitlines()
    ask = f"Problem:\n{item.prompt}\n\nContinue the solution from step 2"
    asked = BackendRequest(messages=({"role": "user", "content": ask},), model="m")
    assert oracle(asked).splitlines()[0] == f"2. {lines[1]}"


def test_the_oracle_slips_in_arithmetic_at_its_error_rate() -> None:
    items = gsm_workload(42)
    oracle = Oracle(items, error_rate=0.3, seed=0)
    verdicts = Counter(check(i, oracle(i.request.backend_request("m"))).ok for i in items)
    assert 0.2 < verdicts[False] / len(items) < 0.4


def test_gsm_bench_reports_later_instances_and_regressions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = bench(
        [
            "--gsm",
            "--quick",
            "--oracle",
            "0.3",
            "--systems",
            "nocache,stepcache,stepcache-unconfirmed",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "StepCache on later instances of a template: " in printed and "regression(s)" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["gsm"] is True
    rows = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]
    by_system = Counter(r["system"] for r in rows)
    assert set(by_system) == {"no cache", "StepCache", "StepCache (0 confirmations)"}
    regressions = {g["system"]: g for g in report["regressions"]}
    bare = {r["id"]: r["ok"] for r in rows if r["system"] == "no cache"}
    for system in ("StepCache", "StepCache (0 confirmations)"):
        mine = [r for r in rows if r["system"] == system]
        assert regressions[system]["regressions"] == sum(bare[r["id"]] and r["ok"] is False for r in mine)
        assert all(r["family"] == "arithmetic" for r in mine if r["path"] in ("reuse", "patch"))
        assert not [r["id"] for r in mine if r["path"] == "reuse" and r["ok"] is False]
    assert "## Regressions" in (out / "report.md").read_text()


def test_gsm_and_templated_are_refused_together(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(["--gsm", "--templated"]) == 2
    assert "--gsm" in capsys.readouterr().err
