"""The command line's side of audit sampling: ``serve --audit-rate`` and the audit table of ``stats``."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np
import pytest

from stepcache import AuditOutcome, Entry, Scope, SQLiteStore, TokenUsage
from stepcache.cli import build_cache, build_parser, main


def put_entry(store: SQLiteStore, key: str) -> str:
    entry = Entry(
        key=key,
        scope=Scope("default", "m", "json"),
        signature="sig",
        prompt=key,
        task={},
        steps=('"a": 1',),
        text='{"a": 1}',
        embedding=np.ones(4, dtype=np.float32) / 2,
    )
    return store.put(entry).id


def serve_args(*argv: str) -> Any:
    return build_parser().parse_args(["serve", *argv])


def test_audit_rate_defaults_to_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEPCACHE_AUDIT_RATE", raising=False)
    assert serve_args().audit_rate == 0.0
    assert serve_args("--audit-rate", "0.05").audit_rate == 0.05


def test_audit_rate_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPCACHE_AUDIT_RATE", "0.25")
    assert serve_args().audit_rate == 0.25
    assert serve_args("--audit-rate", "0").audit_rate == 0.0  # the flag wins


@pytest.mark.parametrize("bad", ["2", "-0.1", "nan", "often"])
def test_a_bad_audit_rate_is_refused_with_how_to_fix_it(
    bad: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STEPCACHE_AUDIT_RATE", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--audit-rate", bad])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--audit-rate" in err and "between 0 and 1" in err and repr(bad) in err


def test_a_bad_audit_rate_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STEPCACHE_AUDIT_RATE", "5%")
    with pytest.raises(SystemExit) as exit_:
        main(["serve"])
    assert exit_.value.code == 2
    assert "STEPCACHE_AUDIT_RATE" in capsys.readouterr().err


def test_serve_builds_its_cache_with_the_audit_rate() -> None:
    cache = build_cache(
        upstream="http://127.0.0.1:9/v1", model="m", model_path=None, threads=None, store="memory://", audit_rate=0.1
    )
    try:
        assert cache.config.audit_rate == 0.1 and cache.audits.rate == 0.1
    finally:
        cache.close()


def test_stats_reports_audits_tokens_and_quarantined_entries(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db) as store:
        bad = put_entry(store, "bad")
        put_entry(store, "good")
        store.quarantine(bad, "audit disagreed")
        for outcome in [AuditOutcome.AGREE] * 3 + [AuditOutcome.DISAGREE, AuditOutcome.INCONCLUSIVE]:
            store.record_audit("default", "json", outcome, TokenUsage(10, 5))
        store.record_audit("default", "json", AuditOutcome.DROPPED, TokenUsage(), count=2)
    url = f"sqlite:///{str(db).lstrip('/')}"
    assert main(["stats", "--store", url]) == 0
    out = capsys.readouterr().out
    assert "entries: 1" in out
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("json") and "%" in line)
    assert row == ["json", "3", "1", "1", "2", "25.0%"]
    assert "upstream tokens spent on audits: 75" in out
    assert "quarantined entries: 1" in out

    assert main(["stats", "--store", url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["audits"] == {"json": {"agree": 3, "disagree": 1, "inconclusive": 1, "dropped": 2}}
    assert (data["disagreement_rate"], data["audit_tokens_spent"], data["quarantined"]) == (0.25, 75, 1)
    assert data["quarantined_by_family"] == {"json": 1}


def test_stats_without_audits_prints_no_audit_table(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--store", f"sqlite:///{str(tmp_path / 'c.db').lstrip('/')}"]) == 0
    assert "audits" not in capsys.readouterr().out
