"""``open_store(url)``: a store from a URL, dispatched by scheme through entry points.

Built-in and third-party stores register the same way, in the ``stepcache.stores`` entry-point
group (``sqlite``, ``memory``, and e.g. ``postgresql`` from a plugin); each class has a
``from_url(url)`` classmethod. No if/elif over store names lives here.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from .._exceptions import ConfigurationError
from ._base import Store

__all__ = ["open_store", "default_store_url", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "stepcache.stores"

#: Schemes a known extra provides, so the error can say what to install.
_EXTRAS = {
    "postgresql": "the PostgreSQL store, which needs: pip install 'stepcache[postgres]'",
    "postgres": "the PostgreSQL store, which needs: pip install 'stepcache[postgres]'",
}


def default_store_url() -> str:
    """``sqlite:///<user cache dir>/stepcache/cache.db`` (platform-specific cache folder)."""
    from platformdirs import user_cache_dir

    path = Path(user_cache_dir("stepcache")) / "cache.db"
    return "sqlite:///" + path.as_posix().lstrip("/")


def open_store(url: str | None = None) -> Store:
    """Open the store ``url`` names; ``None`` opens the default SQLite file in the user cache folder.

    ``sqlite:///abs/path.db``, ``sqlite:///:memory:``, ``memory://``, or any scheme a plugin
    registers in the ``stepcache.stores`` entry-point group.
    """
    if url is None:
        url = default_store_url()
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme:
        raise ConfigurationError(f"{url!r} is not a store URL; use e.g. sqlite:///absolute/path/cache.db or memory://")
    stores = _registered()
    # "postgresql+psycopg" style driver suffixes select the same store.
    found = stores.get(scheme) or stores.get(scheme.split("+", 1)[0])
    if found is None:
        base = scheme.split("+", 1)[0]
        known = ", ".join(f"{name}://" for name in sorted(stores)) or "none (is StepCache installed?)"
        hint = f" '{base}://' is served by {_EXTRAS[base]}." if base in _EXTRAS else ""
        raise ConfigurationError(f"no store handles {scheme}:// URLs.{hint} Known schemes: {known}.")
    try:
        store_class = found.load()
    except ImportError as exc:
        raise ConfigurationError(
            f"the store for {scheme}:// ({found.value}) cannot be imported: {exc}. Reinstall the package that provides it."
        ) from exc
    store = store_class.from_url(url)
    if not isinstance(store, Store):
        raise ConfigurationError(f"{found.value}.from_url did not return a Store (got {type(store).__name__})")
    return store


def _registered() -> dict[str, EntryPoint]:
    return {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
