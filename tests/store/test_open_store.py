"""open_store: URL → store, through the stepcache.stores entry points."""

from __future__ import annotations

import pathlib
from importlib.metadata import entry_points

import pytest
from store_helpers import make_entry

from stepcache._exceptions import ConfigurationError
from stepcache.store import MemoryStore, SQLiteStore, open_store


def test_memory_url() -> None:
    store = open_store("memory://")
    assert isinstance(store, MemoryStore)
    store.put(make_entry("k"))
    assert store.get("k") is not None


def test_sqlite_url(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "cache.db"
    with open_store("sqlite:///" + str(db).lstrip("/")) as store:
        assert isinstance(store, SQLiteStore)
        store.put(make_entry("k"))
    with open_store(f"sqlite://{db}") as again:
        assert again.get("k") is not None


def test_sqlite_memory_url() -> None:
    store = open_store("sqlite:///:memory:")
    assert isinstance(store, SQLiteStore) and store.path == ":memory:"
    store.close()


def test_none_opens_the_default_file_in_the_user_cache_dir(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    store = open_store(None)
    try:
        assert isinstance(store, SQLiteStore)
        assert pathlib.Path(store.path) == tmp_path / "stepcache" / "cache.db"
    finally:
        store.close()
    assert (tmp_path / "stepcache" / "cache.db").exists()


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store("redis://localhost:6379/0")
    message = str(info.value)
    assert "redis://" in message
    assert "sqlite://" in message and "memory://" in message


@pytest.mark.skipif(
    any(ep.name.startswith("postgres") for ep in entry_points(group="stepcache.stores")),
    reason="a PostgreSQL store is registered, so postgresql:// URLs are handled",
)
@pytest.mark.parametrize("url", ["postgresql://db/stepcache", "postgresql+psycopg://db/x", "postgres://db/x"])
def test_postgres_url_without_the_store_says_what_to_install(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"stepcache\[postgres\]"):
        open_store(url)


@pytest.mark.parametrize("url", ["cache.db", "://x", ""])
def test_not_a_url(url: str) -> None:
    with pytest.raises(ConfigurationError, match="not a store URL"):
        open_store(url)


def test_memory_url_takes_no_location() -> None:
    with pytest.raises(ConfigurationError, match="memory://"):
        open_store("memory://somewhere")


def test_public_names_of_the_store_and_retrieve_packages() -> None:
    import stepcache.retrieve
    import stepcache.store

    assert set(stepcache.store.__all__) >= {"Store", "open_store", "MemoryStore", "SQLiteStore"}
    assert set(stepcache.retrieve.__all__) >= {"Embedder", "HashedNgramEmbedder", "MiniLMEmbedder", "VectorIndex"}
    for module in (stepcache.store, stepcache.retrieve):
        for name in module.__all__:
            assert getattr(module, name) is not None
