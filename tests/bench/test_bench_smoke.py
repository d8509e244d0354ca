"""CI smoke test: the whole bench, every system including GPTCache, on the scripted backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_cli import bench

from stepcache import InvalidRequest, ScriptedBackend
from stepcache_bench.bench import run_bench
from stepcache_bench.imperfect import ImperfectModel
from stepcache_bench.latency import ModelledLatency
from stepcache_bench.systems import DEFAULT_SYSTEMS
from stepcache_bench.workload import dump_workload, generate_workload

SYSTEM_NAMES = ["no cache", "exact", "GPTCache (0.8)", "GPTCache (0.95)", "StepCache"]


def test_main_full_pipeline_writes_report_plots_and_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = bench(["--scripted", "--seeds", "7", "--bases", "1", "--variants", "1", "--no-progress", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    for name in SYSTEM_NAMES:
        assert name in printed
    assert "targets:" in printed

    expected = {
        "report.md",
        "report.json",
        "requests.jsonl",
        "latency_cdf.png",
        "path_mix.png",
        "tokens_per_request.png",
        "correctness.png",
    }
    assert expected <= {p.name for p in out.iterdir()}
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    items = 2 * 1 * (1 + 5 * 1)
    lines = (out / "requests.jsonl").read_text().splitlines()
    assert len(lines) == items * len(SYSTEM_NAMES)
    rows = [json.loads(line) for line in lines]
    assert {r["system"] for r in rows} == set(SYSTEM_NAMES)
    for field in (
        "system",
        "seed",
        "id",
        "perturbation",
        "latency_s",
        "prompt_tokens",
        "completion_tokens",
        "path",
        "correct",
        "reasons",
        "hit",
    ):
        assert field in rows[0]
    assert all(r["seed"] == 7 for r in rows)
    stepcache = [r for r in rows if r["system"] == "StepCache"]
    assert all(r["path"] in ("reuse", "patch", "skip", "miss") for r in stepcache)
    assert all(r["path"] is None for r in rows if r["system"] != "StepCache")
    assert all(r["modelled_s"] > 0 for r in rows if r["system"] == "no cache")  # scripted: modelled model time

    report = json.loads((out / "report.json").read_text())
    assert [h["system"] for h in report["headline"]] == SYSTEM_NAMES
    assert list(report["per_seed"]) == ["7"]
    assert report["settings"]["machine"]["cpus"] and report["settings"]["versions"]["gptcache"]
    assert report["settings"]["latency_model"]
    names = {t["name"] for t in report["targets"]}
    assert {"stale reuse", "over-skip", "median latency", "upstream tokens vs no cache"} <= names
    markdown = (out / "report.md").read_text()
    assert "## Targets" in markdown and "## Per seed" in markdown and "![latency CDF](latency_cdf.png)" in markdown
    # the engine verifies what it serves: never a wrong non-semantic answer from StepCache
    assert all(r["ok"] for r in stepcache if not r["semantic"])


def test_run_bench_on_a_workload_file_with_some_systems(tmp_path: Path) -> None:
    path = dump_workload(generate_workload(9, bases_per_task=1, variants_per_perturbation=1), tmp_path / "w.jsonl")
    code = bench(
        [
            "--scripted",
            "--workload",
            str(path),
            "--systems",
            "nocache,stepcache",
            "--no-progress",
            "--no-modelled-latency",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert [h["system"] for h in report["headline"]] == ["no cache", "StepCache"]
    assert report["settings"]["size"] == "workload file" and report["settings"]["latency_model"] is None


def test_unknown_system_is_refused_with_the_choices() -> None:
    backend = ScriptedBackend(responder=ImperfectModel())
    items = generate_workload(1, bases_per_task=1, variants_per_perturbation=0)
    with pytest.raises(InvalidRequest, match="choose from nocache"):
        run_bench(backend, {1: items}, None, systems=["nocache", "memcached"], progress=False)


def test_modelled_latency_accounts_per_token_without_sleeping() -> None:
    backend = ModelledLatency(ScriptedBackend(responder=ImperfectModel(error_rate=0.0)))
    item = generate_workload(1, bases_per_task=1, variants_per_perturbation=0, tasks=("linear",))[0]
    completion = backend.complete(item.request.backend_request("m"))
    expected = 0.05 + 0.0025 * completion.prompt_tokens + 0.037 * completion.completion_tokens
    assert backend.modelled_s == pytest.approx(expected)


def test_passes_and_interleaving_give_the_same_answers() -> None:
    items = generate_workload(2, bases_per_task=1, variants_per_perturbation=1)
    results = []
    for interleave in (False, True):
        backend = ScriptedBackend(responder=ImperfectModel(seed=3))
        report, records = run_bench(
            backend,
            {2: items},
            None,
            systems=DEFAULT_SYSTEMS,
            progress=False,
            interleave=interleave,
            warm_up_model=False,
        )
        results.append(sorted((r.system, r.id, r.text) for r in records))
        assert len(records) == len(items) * len(DEFAULT_SYSTEMS)
    assert results[0] == results[1]  # each system has its own cache, so order cannot matter
