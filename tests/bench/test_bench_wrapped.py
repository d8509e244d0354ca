"""``stepcache bench --wrapped`` and ``--oracle RATE``, and the report's detection coverage and wrong
answers by path (scripted, fast)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench_cli import bench, demo, parse

from stepcache import InvalidRequest
from stepcache_bench.bench import rebuild
from stepcache_bench.commands import make_backend
from stepcache_bench.report import detection_coverage, wrong_by_path
from stepcache_bench.runner import RequestRecord
from stepcache_bench.workload import dump_workload, generate_workload


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]


def test_wrapped_scripted_bench_reports_coverage_and_wrong_answers_by_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = bench(
        ["--wrapped", "--scripted", "--quick", "--systems", "nocache,stepcache", "--no-progress", "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "StepCache detection coverage: " in printed and "StepCache wrong answers by path: " in printed

    rows = _records(out)
    kinds = {r["perturbation"].split(":")[0] for r in rows}
    assert {"base", "wrap", "mutate"} <= kinds
    assert len(rows) > 2 * 10 * 22  # 22 generated items, each wrapped and mutated many ways, two systems
    assert all(r["expected_family"] in ("linear", "json", "generic") for r in rows)
    assert all(r["family"] is None for r in rows if r["system"] == "no cache")
    assert all(r["family"] or r["error"] for r in rows if r["system"] == "StepCache")

    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["wrapped"] is True and "wrapped" in report["settings"]["size"]
    coverage = {c["family"]: c for c in report["coverage"]}
    assert set(coverage) == {"linear", "json", "generic"} and {c["system"] for c in report["coverage"]} == {"StepCache"}
    for c in coverage.values():
        assert c["items"] == sum(1 for r in rows if r["system"] == "StepCache" and r["expected_family"] == c["family"])
        assert c["items"] - c["detected"] == sum(c["detected_as"].values())
    paths = {e["path"]: e for e in report["wrong_by_path"]}
    stepcache = [r for r in rows if r["system"] == "StepCache"]
    for path, entry in paths.items():
        mine = [r for r in stepcache if (r["path"] == path if path != "error" else r["error"])]
        assert entry["answers"] == len(mine) and entry["wrong"] == sum(r["ok"] is False for r in mine)
    assert sum(e["answers"] for e in paths.values()) == len(stepcache)

    rewrites = {r["perturbation"]: r for r in report["rewrites"]}
    assert {"wrap:latex", "wrap:persona", "mutate:swap_key"} <= set(rewrites)
    assert all(set(r["correct"]) == {"no cache", "StepCache"} for r in rewrites.values())
    assert sum(rewrites["wrap:persona"]["paths"].values()) == rewrites["wrap:persona"]["requests"]

    markdown = (out / "report.md").read_text()
    assert "## Detection coverage" in markdown and "## Wrong answers by path" in markdown
    assert "## By wrapper and mutation" in markdown and "| wrap:latex |" in markdown


def test_the_oracle_replaces_the_model_at_the_rate_asked(tmp_path: Path) -> None:
    workload = dump_workload(generate_workload(9, bases_per_task=1, variants_per_perturbation=1), tmp_path / "w.jsonl")
    correct = {}
    for rate in ("0", "1"):
        out = tmp_path / f"rate-{rate}"
        assert (
            bench(
                [
                    "--workload",
                    str(workload),
                    "--oracle",
                    rate,
                    "--systems",
                    "nocache,stepcache",
                    "--no-progress",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        report = json.loads((out / "report.json").read_text())
        assert report["settings"]["oracle_error_rate"] == float(rate) and report["settings"]["latency_model"]
        correct[rate] = {h["system"]: h["correct_all"] for h in report["headline"]}
    assert correct["0"]["no cache"] == 1.0  # always right: every wrong StepCache answer would be StepCache's
    assert correct["1"]["no cache"] < 0.5


def test_the_oracle_answers_a_wrapped_generated_workload(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert (
        bench(
            [
                "--wrapped",
                "--oracle",
                "0",
                "--seeds",
                "5",
                "--bases",
                "1",
                "--variants",
                "1",
                "--systems",
                "nocache",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = _records(out)
    assert not [r["id"] for r in rows if r["error"]]
    assert all(r["ok"] for r in rows if r["ok"] is not None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--oracle", "1.5"], "between 0 and 1"),
        (["--oracle", "lots"], "between 0 and 1"),
        (["--oracle", "0.1", "--scripted"], "not allowed with argument"),
    ],
)
def test_bad_oracle_flags_are_refused_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench(argv) == 2
    error = capsys.readouterr().err
    assert "--oracle" in error and message in error


def test_an_oracle_needs_the_workload_it_answers() -> None:
    args = parse("bench", "--oracle", "0")
    with pytest.raises(InvalidRequest, match="--oracle answers from the workload"):
        make_backend(args)


def test_demo_shares_the_oracle_flag(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert demo(["--quick", "--oracle", "0", "--store", "memory", "--no-progress", "--out", str(out)]) == 0
    data = json.loads((out / "demo.json").read_text())
    assert data["settings"]["oracle_error_rate"] == 0.0
    assert next(s for s in data["systems"] if s["system"] == "no cache")["correct_all"] == 1.0


def test_rebuilding_a_run_recorded_before_families_keeps_working(tmp_path: Path) -> None:
    out = tmp_path / "old"
    assert (
        bench(
            [
                "--scripted",
                "--seeds",
                "3",
                "--bases",
                "1",
                "--variants",
                "1",
                "--systems",
                "nocache,stepcache",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    old = []
    for row in _records(out):
        row.pop("family"), row.pop("expected_family")
        old.append(json.dumps(row))
    (out / "requests.jsonl").write_text("\n".join(old) + "\n")
    report = rebuild(out)
    assert report.coverage == [] and report.rewrites == [] and report.wrong_by_path
    markdown = (out / "report.md").read_text()
    assert "## Detection coverage" not in markdown and "## Wrong answers by path" in markdown
    assert "## By wrapper and mutation" not in markdown


def _record(
    ident: str,
    *,
    family: str | None,
    expected: str | None,
    path: str | None,
    ok: bool | None,
    error: str | None = None,
    system: str = "StepCache",
) -> RequestRecord:
    return RequestRecord(
        id=ident,
        system=system,
        task="t",
        perturbation="wrap:latex",
        semantic=False,
        latency_s=0.0,
        prompt_tokens=0,
        completion_tokens=0,
        path=path,
        family=family,
        expected_family=expected,
        correct=ok,
        integrity=True,
        ok=ok,
        reasons=[],
        error=error,
        text="",
    )


def test_coverage_and_wrong_by_path_from_records() -> None:
    records = [
        _record("a", family="linear", expected="linear", path="reuse", ok=True),
        _record("b", family="generic", expected="linear", path="miss", ok=False),
        _record("c", family=None, expected="linear", path=None, ok=False, error="UnverifiableAnswer: no"),
        _record("d", family="json", expected="json", path="patch", ok=None),
        _record("e", family="json", expected=None, path="reuse", ok=False),
        _record("f", family=None, expected="linear", path=None, ok=True, system="no cache"),
    ]
    coverage = {c.family: c for c in detection_coverage(records)}
    assert set(coverage) == {"linear", "json"}
    linear = coverage["linear"]
    assert (linear.items, linear.detected, linear.detected_as) == (3, 1, {"generic": 1, "error": 1})
    assert linear.share == pytest.approx(1 / 3) and "`b`" in linear.examples[0]
    assert (coverage["json"].items, coverage["json"].detected) == (1, 1)
    by_path = {e.path: (e.answers, e.checked, e.wrong) for e in wrong_by_path(records)}
    assert by_path == {"reuse": (2, 2, 1), "patch": (1, 0, 0), "miss": (1, 1, 1), "error": (1, 1, 1)}
