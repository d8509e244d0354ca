"""``stepcache entries``, ``stepcache purge`` and ``serve``'s size cap and expiry on a SQLite store."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from store_helpers import make_entry, payload_of

from stepcache.cli import build_parser, main
from stepcache.cli._serve import bounded_store_url
from stepcache.store import MemoryStore, SQLiteStore, open_store


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


def test_purge_evicts_expired_and_least_recently_used_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cache.db"
    with SQLiteStore(path) as store:
        store.put(make_entry("fresh"))
        store.put(dataclasses.replace(make_entry("stale"), expires_at=time.time() - 1))
        for i in range(5):
            store.put(make_entry(f"k{i}"))
    url = f"sqlite:///{path}"
    assert main(["purge", "--store", url, "--expired"]) == 0
    assert "evicted 1 entry" in capsys.readouterr().out
    assert main(["purge", "--store", url, "--max-entries", "2"]) == 0
    assert "evicted 4 entries" in capsys.readouterr().out
    with SQLiteStore(path) as store:
        assert {e.key for e in store.entries()} == {"k3", "k4"}
    assert main(["stats", "--store", url]) == 0
    assert "evicted entries (size cap or expiry): 5" in capsys.readouterr().out
    assert main(["stats", "--store", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["evicted"] == 5
    assert main(["purge", "--store", url, "--max-bytes", str(payload_of(make_entry("k4")))]) == 0
    assert "evicted 1 entry" in capsys.readouterr().out


def test_purge_refuses_to_mix_eviction_with_filters(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", "--store", url, "--expired", "--namespace", "tenant-b"]) == 2
    err = capsys.readouterr().err
    assert "--expired" in err and "--namespace" in err
    assert main(["purge", "--store", url]) == 2
    assert "--max-entries" in capsys.readouterr().err


def serve_args(*argv: str) -> Any:
    return build_parser().parse_args(["serve", *argv])


def test_serve_puts_the_caps_and_expiry_in_the_store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STEPCACHE_MAX_ENTRIES", "STEPCACHE_MAX_BYTES", "STEPCACHE_TTL"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    assert bounded_store_url(serve_args("--store", url)) == url  # no flags: the URL as given
    bounded = bounded_store_url(
        serve_args("--store", f"{url}?max_entries=9", "--max-entries", "1000", "--max-bytes", "500M", "--ttl", "7d")
    )
    with open_store(bounded) as store:  # what build_cache (and each --workers process) opens
        assert isinstance(store, SQLiteStore)
        assert (store.limits.max_entries, store.limits.max_bytes, store.limits.ttl) == (1000, 500 * 1024**2, 604800.0)
    monkeypatch.setenv("STEPCACHE_MAX_ENTRIES", "50")
    monkeypatch.setenv("STEPCACHE_TTL", "12h")
    monkeypatch.setenv("STEPCACHE_STORE", "memory://")
    with open_store(bounded_store_url(serve_args())) as store:
        assert isinstance(store, MemoryStore)
        assert (store.limits.max_entries, store.limits.ttl) == (50, 43200.0)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-entries", "0"], "--max-entries"),
        (["--max-bytes", "lots"], "not a size"),
        (["--ttl", "0"], "longer than 0"),
    ],
)
def test_bad_caps_are_refused_naming_the_flag(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert argv[0] in err and message in err
