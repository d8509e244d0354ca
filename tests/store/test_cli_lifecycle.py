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
    assert main(["entries", "--store", url, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["prompt"] for r in rows] == ["prompt for new", "prompt for old"]
    assert rows[0]["namespace"] == "tenant-b" and rows[0]["family"] == "json"


def test_purge_by_age_and_refuses_to_purge_everything_by_accident(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", "--store", url]) == 2
    assert "--all" in capsys.readouterr().err
    assert main(["purge", "--store", url, "--older-than", "7d"]) == 0
    assert "deleted 1 entry" in capsys.readouterr().out
    assert main(["entries", "--store", url]) == 0
    assert "prompt for new" in capsys.readouterr().out
    assert main(["purge", "--store", url, "--all"]) == 0
    assert "deleted 1 entry" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad_age:
        main(["purge", "--store", url, "--older-than", "soon"])
    assert bad_age.value.code == 2 and "not an age" in capsys.readouterr().err
