"""The time-to-first-token bench: a tiny real run (fake model and proxy in their own processes) yields
every scenario with numbers that hang together; the fake model answers right (and slips when told);
the targets are judged on the numbers given. No claim here about how fast anything is."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from bench_cli import stepcache

from stepcache_bench._ttft_upstream import StreamingUpstream, json_answer, prose, solve
from stepcache_bench.ttft import SCENARIOS, chat_body, judge, prompts, run_ttft


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("ttft")
    return run_ttft(requests=2, token_delay_s=0.005, out=out), out


def test_every_scenario_is_measured_and_written(run: tuple[dict[str, Any], Path]) -> None:
    report, out = run
    assert list(report["scenarios"]) == list(SCENARIOS)
    written = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert written["scenarios"] == report["scenarios"] and written["info"]["requests"] == 2
    lines = [json.loads(line) for line in (out / "requests.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["scenario"] for line in lines] == [name for name in SCENARIOS for _ in range(2)]
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert all(f"| {name} |" in markdown for name in SCENARIOS)
    assert "5 ms per token" in markdown and "N = 2" in markdown and "linear interpolation" in markdown
    for summary in report["scenarios"].values():
        assert summary["requests"] == 2 and summary["right_answers"] == 2
        for side in ("direct", "proxy"):
            ttft, total = summary["ttft_ms"][side], summary["total_ms"][side]
            assert 0 < ttft["p50"] <= ttft["p95"] and ttft["p50"] <= total["p50"]
    assert {t["scenario"] for t in report["targets"]} == set(SCENARIOS) - {"json-miss"}
    assert all(("met" if t["met"] else "**missed**") in markdown for t in report["targets"])


def test_each_scenario_takes_the_path_it_is_named_for(run: tuple[dict[str, Any], Path]) -> None:
    paths = {name: s["paths"] for name, s in run[0]["scenarios"].items()}
    assert paths == {
        "bypass": {"bypass": 2},
        "generic-miss": {"miss": 2},
        "linear-miss": {"miss": 2},
        "linear-miss-failing-step": {"miss": 2},
        "json-miss": {"miss": 2},
        "reuse": {"reuse": 2},
    }


def test_text_that_streams_is_read_as_chunks_and_never_before_the_model_wrote_it(
    run: tuple[dict[str, Any], Path],
) -> None:
    report = run[0]
    for name in ("bypass", "generic-miss"):
        summary = report["scenarios"][name]
        assert summary["median_gap_ms"]["direct"] > 0 and summary["median_gap_ms"]["proxy"] > 0
        for record in report["records"][name]:
            assert len(record["proxy_gaps_ms"]) >= 20  # ~40 words, not one blob
            assert record["proxy_lag_ms"] >= 0 and record["direct_lag_ms"] >= 0  # one clock across processes


def test_a_linear_miss_sends_step_one_before_the_whole_answer(run: tuple[dict[str, Any], Path]) -> None:
    for record in run[0]["records"]["linear-miss"]:
        assert record["first_text"].strip() == "1. " + record["prompt"].removeprefix("Solve ")  # step 1 alone
        assert record["proxy_ttft_ms"] < record["proxy_total_ms"]
        assert record["proxy_lag_ms"] >= 0  # step 1 was read after the model wrote its line break
        assert record["upstream_calls"] == 1 and record["upstream_streams_cut"] == 0


def test_the_failing_step_is_cut_repaired_and_never_shown(run: tuple[dict[str, Any], Path]) -> None:
    summary = run[0]["scenarios"]["linear-miss-failing-step"]
    assert summary["wrong_step_shown"] == 0 and summary["right_answers"] == 2
    assert summary["upstream_streams_cut"] == 2 and summary["upstream_calls"] == 4  # the cut stream + a repair each
    for record in run[0]["records"]["linear-miss-failing-step"]:
        assert record["first_text"].strip() == "1. " + record["prompt"].removeprefix("Solve ")
        assert record["proxy_lag_ms"] >= 0


def test_json_is_sent_whole_after_the_model_finished(run: tuple[dict[str, Any], Path]) -> None:
    for record in run[0]["records"]["json-miss"]:
        assert json.loads(record["first_text"]) == json.loads(json_answer(record["prompt"]))
        assert record["proxy_lag_ms"] >= 0  # measured from the model's last chunk


def test_reuse_calls_no_model(run: tuple[dict[str, Any], Path]) -> None:
    summary = run[0]["scenarios"]["reuse"]
    assert summary["upstream_calls"] == 0 and summary["lag_ms"]["proxy"] is None
    assert all(r["prompt"] != "Solve 3x + 5 = 20" for r in run[0]["records"]["reuse"])


# -- the fake model and the judging, without processes ---------------------------------------------------


def test_the_fake_model_answers_right_and_slips_once_per_equation_when_told() -> None:
    assert solve("Solve 3x + 5 = 20") == "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5"
    assert 35 <= len(prose("Write a few sentences about lighthouse number 3.").split()) <= 60
    assert json.loads(json_answer("with keys city and year: the city is Lyon and the year is 1987.")) == {
        "city": "Lyon",
        "year": 1987,
    }
    fake = StreamingUpstream(wrong_step=True)
    body = chat_body("linear-miss", "Solve 3x + 5 = 20")
    assert fake.answer(body)[1].splitlines()[1] == "2. 3x = 16"
    repair = {"messages": [{"role": "user", "content": "Problem:\nSolve 3x + 5 = 20\n\nContinue from step 2"}]}
    assert fake.answer(repair)[1] == solve("Solve 3x + 5 = 20")


def test_prompts_are_distinct_so_a_miss_stays_a_miss() -> None:
    for scenario in SCENARIOS:
        made = prompts(scenario, 40, random.Random(0))
        assert len(set(made)) == 41


def _summary(
    direct: float, proxy: float, gap_direct: float = 20.0, gap_proxy: float = 20.0, lag: float = 1.0
) -> dict[str, Any]:
    return {
        "ttft_ms": {"direct": {"p50": direct, "p95": direct}, "proxy": {"p50": proxy, "p95": proxy}},
        "median_gap_ms": {"direct": gap_direct, "proxy": gap_proxy},
        "lag_ms": {"direct": {"p50": 0.1, "p95": 0.1}, "proxy": {"p50": lag, "p95": lag}},
    }


def test_targets_are_missed_when_the_numbers_miss_them() -> None:
    met = judge({"bypass": _summary(20, 39), "linear-miss": _summary(20, 130, lag=19), "reuse": _summary(20, 4.9)})
    assert [t["met"] for t in met] == [True, True, True, True]
    missed = judge(
        {
            "generic-miss": _summary(20, 41, gap_proxy=23),
            "linear-miss": _summary(20, 130, lag=21),
            "reuse": _summary(20, 5.1),
        }
    )
    assert [t["met"] for t in missed] == [False, False, False, False]


def test_unknown_scenarios_are_refused_with_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert stepcache("bench", "ttft", "--scenarios", "bypass,warp") == 2
    assert "unknown warp; choose from bypass" in capsys.readouterr().err
