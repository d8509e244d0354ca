"""The call journal: identical calls are generated once and replayed at their measured cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_cli import bench

from stepcache import BackendRequest, ConfigurationError, ScriptedBackend
from stepcache_bench.journal import CallJournal, request_key
from stepcache_bench.latency import ModelledLatency


def _request(content: str = "Solve 2x + 3 = 7 for x.", **kw: object) -> BackendRequest:
    return BackendRequest(messages=({"role": "user", "content": content},), model="m", **kw)  # type: ignore[arg-type]


def _echo(request: BackendRequest) -> str:
    return "answer to " + request.messages[-1]["content"]


def test_identical_call_is_generated_once_and_replayed_with_its_recorded_seconds(tmp_path: Path) -> None:
    inner = ScriptedBackend(responder=_echo)
    journal = CallJournal(ModelledLatency(inner), tmp_path / "calls.jsonl")
    first = journal.complete(_request())
    after_live = journal.modelled_s
    assert after_live > 0  # the inner backend's modelled time passes through on a live call
    second = journal.complete(_request())
    assert second == first
    assert len(inner.calls) == 1
    assert journal.modelled_s == pytest.approx(2 * after_live, rel=1e-3)  # recorded seconds, once more
    assert journal.describe()["live_calls"] == 1 and journal.describe()["replayed_calls"] == 1
    journal.complete(_request("Solve 3x = 9 for x."))
    assert len(inner.calls) == 2  # a different request is live
    journal.close()


def test_journal_survives_a_restart_and_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    with CallJournal(ScriptedBackend(responder=_echo), path) as journal:
        journal.complete(_request("a"))
        journal.complete(_request("b"))
    with path.open("a") as fh:
        fh.write('{"version": 1, "key": "cut sh')  # an interrupted write
    inner = ScriptedBackend(responder=_echo)
    reopened = CallJournal(inner, path)
    assert reopened.loaded == 2
    assert reopened.complete(_request("b")).text == "answer to b"
    assert inner.calls == []
    reopened.complete(_request("c"))
    reopened.close()
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    assert [r["messages"][-1]["content"] for r in rows] == ["a", "b", "c"]


def test_sampled_requests_are_never_replayed(tmp_path: Path) -> None:
    inner = ScriptedBackend(responder=_echo)
    with CallJournal(inner, tmp_path / "calls.jsonl") as journal:
        journal.complete(_request(temperature=0.7))
        journal.complete(_request(temperature=0.7))
    assert len(inner.calls) == 2


def test_every_answer_changing_field_is_in_the_key() -> None:
    base = _request()
    variants = [
        _request(max_tokens=10),
        _request(temperature=0.5),
        _request(response_format={"type": "json_object"}),
        _request(stop=("\n",)),
        _request("Solve 2x + 3 = 8 for x."),
        BackendRequest(messages=base.messages, model="other"),
    ]
    keys = {request_key(r) for r in variants}
    assert request_key(base) not in keys and len(keys) == len(variants)


def test_a_journal_from_another_backend_is_refused_and_left_intact(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    with CallJournal(ScriptedBackend(responder=_echo), path) as journal:
        journal.complete(_request())
    before = path.read_bytes()
    other = ScriptedBackend(responder=_echo)
    other.name = "another-model"
    with pytest.raises(ConfigurationError, match="new journal"):
        CallJournal(other, path)
    assert path.read_bytes() == before


def test_bench_resume_replays_a_finished_run_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = [
        "--scripted",
        "--seeds",
        "7",
        "--bases",
        "1",
        "--variants",
        "1",
        "--no-progress",
        "--systems",
        "nocache,exact,stepcache",
        "--out",
        str(out),
        "--resume",
    ]
    assert bench(argv) == 0
    first_report = json.loads((out / "report.json").read_text())
    journal = first_report["settings"]["journal"]
    # the exact-match cache forwards the very requests no cache sent: all replayed, none generated twice
    assert journal["replayed_calls"] >= 12 and journal["loaded"] == 0
    first = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]
    exact = [r for r in first if r["system"] == "exact"]
    assert all(r["modelled_s"] > 0 for r in exact)  # charged the recorded model time, not free

    assert bench(argv) == 0  # the same command again: a finished run is replayed, nothing is live
    capsys.readouterr()
    again = json.loads((out / "report.json").read_text())["settings"]["journal"]
    assert again["live_calls"] == 0 and again["loaded"] == journal["live_calls"]
    second = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]
    assert [(r["system"], r["id"], r["text"], r["ok"], r["path"]) for r in second] == [
        (r["system"], r["id"], r["text"], r["ok"], r["path"]) for r in first
    ]


def test_resume_needs_an_out_dir(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(["--scripted", "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err


def test_rebuild_rejudges_a_finished_run_from_its_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert (
        bench(
            [
                "--scripted",
                "--seeds",
                "7",
                "--bases",
                "1",
                "--variants",
                "1",
                "--no-progress",
                "--systems",
                "nocache,stepcache",
                "--out",
                str(out),
                "--resume",
            ]
        )
        == 0
    )
    before = json.loads((out / "report.json").read_text())
    (out / "report.md").unlink()
    (out / "latency_cdf.png").unlink()
    calls = len((out / "model-calls.jsonl").read_text().splitlines())
    assert bench(["--rebuild", str(out)]) == 0
    assert "StepCache" in capsys.readouterr().out
    after = json.loads((out / "report.json").read_text())
    assert after["headline"] == before["headline"] and after["targets"] == before["targets"]
    assert after["settings"]["started_at"] == before["settings"]["started_at"]  # the run's own settings
    assert after["settings"]["journal"]["recorded_calls"] == calls
    markdown = (out / "report.md").read_text()
    assert "Model calls journaled" in markdown and f"holds {calls:,} calls" in markdown
    assert (out / "latency_cdf.png").exists()


def test_rebuild_of_a_dir_without_a_run_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(["--rebuild", str(tmp_path)]) == 2
    assert "run 'stepcache bench --out DIR' first" in capsys.readouterr().err
