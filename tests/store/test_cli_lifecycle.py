"""``stepcache entries`` and ``stepcache purge`` on a SQLite store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from store_helpers import make_entry

from stepcache.cli import main
from stepcache.store import SQLiteStore


@pytest.fixture
def url(tmp_path: Path) -> str:
    path = tmp_path / "cache.db"
    with SQLiteStore(path) as store:
        store.put(make_entry("old", created_at=time.time() - 10 * 86400))
        store.put(make_entry("new", namespace="tenant-b", family="json"))
    return f"sqlite:///{path}"


def test_entries_lists_newest_first(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["entries", "list", "--store", url, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["prompt"] for r in rows] == ["prompt for new", "prompt for old"]
    assert rows[0]["namespace"] == "tenant-b" and rows[0]["family"] == "json"


def test_purge_by_age_and_refuses_to_purge_everything_by_accident(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", "--store", url]) == 2
    assert "--all" in capsys.readouterr().err
    assert main(["purge", "--store", url, "--older-than", "7d"]) == 0
    assert "deleted 1 entry" in capsys.readouterr().out
    assert main(["entries", "list", "--store", url]) == 0
    assert "prompt for new" in capsys.readouterr().out
    assert main(["purge", "--store", url, "--all"]) == 0
    assert "deleted 1 entry" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad_age:
        main(["purge", "--store", url, "--older-than", "soon"])
    assert bad_age.value.code == 2 and "not an age" in capsys.readouterr().err


def test_show_delete_export_and_import(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["entries", "list", "--store", url, "--json"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert main(["entries", "show", first["id"], "--store", url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["prompt"] == "prompt for new" and shown["steps"] and "embedding" not in shown
    assert main(["entries", "show", "999999", "--store", url]) == 2
    capsys.readouterr()
    exported = tmp_path / "cache.jsonl"
    assert main(["export", "--store", url, "--out", str(exported)]) == 0
    assert len(exported.read_text().splitlines()) == 2
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["import", str(exported), "--store", other]) == 0
    assert "imported 2 entries" in capsys.readouterr().out
    with SQLiteStore(tmp_path / "other.db") as copy:
        assert copy.get(json.loads(exported.read_text().splitlines()[0])["key"]) is not None
    assert main(["entries", "delete", first["id"], "--store", url]) == 0
    assert "deleted 1 of 1" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": 1}\n')
    assert main(["import", str(bad), "--store", other]) == 2
