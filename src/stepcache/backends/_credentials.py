"""The upstream credential of the request being answered, when it is not the operator's.

In pass-through mode (``stepcache serve --pass-through-keys``) each client's own API key pays for
its requests: the proxy sets it here for the duration of the request, and backends that talk to an
authenticating upstream (:class:`~stepcache.backends.OpenAIHTTPBackend`) send it instead of the key
they were built with. A context variable carries it, so it follows the request into the worker
thread that runs the engine (and into audits queued by that request) and never leaks to another.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["bind_upstream_key", "current_upstream_key", "upstream_key"]

_KEY: ContextVar[str | None] = ContextVar("stepcache_upstream_key", default=None)


@contextmanager
def upstream_key(key: str | None) -> Iterator[None]:
    """Within this block, upstream calls made in this context authenticate with ``key``
    (``None``: the backend's own key)."""
    token = _KEY.set(key)
    try:
        yield
    finally:
        _KEY.reset(token)


def bind_upstream_key(key: str | None) -> None:
    """Set ``key`` for the rest of the current context: for the proxy, the asyncio task answering
    one request (each request runs in its own task, with its own copy of the context)."""
    _KEY.set(key)


def current_upstream_key() -> str | None:
    """The key set by the innermost :func:`upstream_key` block, if any."""
    return _KEY.get()
