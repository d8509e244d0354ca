"""The demo runner end to end, on the scripted backend with its imperfect model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_cli import demo

from stepcache import Backend, BackendRequest, Completion, MemoryStore, ScriptedBackend, StepCache, UpstreamTimeout
from stepcache_bench.demo import NO_CACHE, STEPCACHE, demo_workload, run_demo
from stepcache_bench.imperfect import ImperfectModel
from stepcache_bench.workload import dump_workload, generate_workload


def test_demo_sizes() -> None:
    assert len(demo_workload(42)) == 64  # ≈ 60 requests per system
    assert len(demo_workload(42, quick=True)) == 22


def test_run_demo_on_scripted_backend(tmp_path: Path) -> None:
    items = demo_workload(42, quick=True)
    backend = ScriptedBackend(responder=ImperfectModel(error_rate=0.3, seed=1))
    stores: list[MemoryStore] = []

    def factory(b: Backend) -> StepCache:
        stores.append(MemoryStore())
        return StepCache(b, store=stores[-1])

    report = run_demo(factory, backend, items, tmp_path / "out", progress=False)

    assert [s.system for s in report.systems] == [NO_CACHE, STEPCACHE]
    assert len(report.records) == 2 * len(items)
    bare, cached = report.summary(NO_CACHE), report.summary(STEPCACHE)
    assert bare.requests == cached.requests == len(items)
    assert sum(cached.paths.values()) == len(items) and not bare.paths
    assert cached.paths.get("reuse", 0) > 0
    # correctness of StepCache's answers must not depend on the model (the engine verifies them)
    for record in report.records:
        if record.system == STEPCACHE and not record.semantic:
            assert record.ok, (record.id, record.path, record.reasons, record.text)
    assert cached.correct_nonsemantic == 1.0 and cached.stale_reuse == 0
    assert bare.correct_nonsemantic is not None and bare.correct_nonsemantic < 1.0  # the model does err
    assert bare.tokens_total > cached.tokens_total > 0
    assert bare.p95_s >= bare.median_s > 0 and bare.mean_s > 0
    # files: a markdown table and every request as JSON
    assert report.markdown_path and report.json_path
    markdown = Path(report.markdown_path).read_text()
    assert "| no cache | 22 |" in markdown and "| StepCache | 22 |" in markdown and "path mix" in markdown
    data = json.loads(Path(report.json_path).read_text())
    assert len(data["records"]) == 44 and data["settings"]["requests_per_system"] == 22
    assert {r["system"] for r in data["records"]} == {NO_CACHE, STEPCACHE}
    assert data["settings"]["machine"]["cpus"]


class _Down(Backend):
    name = "down"

    def complete(self, request: BackendRequest) -> Completion:
        raise UpstreamTimeout("upstream did not answer in 60 s")


def test_errors_are_recorded_not_raised(tmp_path: Path) -> None:
    items = generate_workload(1, bases_per_task=1, variants_per_perturbation=0, tasks=("linear",))
    report = run_demo(None, _Down(), items, None, progress=False, warm_up=False)
    assert report.markdown_path is None
    for summary in report.systems:
        assert summary.errors == 1 and summary.correct_all == 0.0
    assert all(r.error and "UpstreamTimeout" in r.error for r in report.records)


def test_empty_workload_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        run_demo(None, _Down(), [], None, progress=False)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_main_scripted_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str], store: str) -> None:
    code = demo(["--scripted", "--quick", "--no-progress", "--store", store, "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "no cache" in printed and "StepCache path mix" in printed
    assert (tmp_path / "demo.md").exists() and (tmp_path / "demo.json").exists()


def test_main_runs_a_workload_file(tmp_path: Path) -> None:
    path = dump_workload(generate_workload(5, bases_per_task=1, variants_per_perturbation=1), tmp_path / "w.jsonl")
    assert demo(["--scripted", "--workload", str(path), "--no-progress", "--out", str(tmp_path / "o")]) == 0
    data = json.loads((tmp_path / "o" / "demo.json").read_text())
    assert data["settings"]["requests_per_system"] == 12 and data["settings"]["size"] == "workload file"
