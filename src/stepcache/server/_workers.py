"""Several uvicorn worker processes behind one port, each with its own ``StepCache``.

One proxy process answers the reuse path with one core at most (the engine is Python, under one
GIL). ``run_workers`` starts N uvicorn worker processes on one socket; uvicorn can only start
workers from an import string, so each worker builds its app with :func:`app_from_env` from what
``run_workers`` left in its environment: the import string of a function that builds the
``StepCache`` (called in the worker with the given keyword arguments) and the ``ServerSettings``.

Workers share nothing in memory: give them one SQLite file or one PostgreSQL database as the store,
or each will only reuse its own answers. Coalescing of identical in-flight misses is per process, so
N workers may send up to N identical misses upstream at once. Their metrics are shared through files
in a temporary directory, so /metrics in any worker shows the sum over all of them (see ``_metrics``).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigurationError
from ._settings import ServerSettings

log = logging.getLogger("stepcache.server")

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["app_from_env", "run_workers", "FACTORY_ENV", "FACTORY_KWARGS_ENV", "METRICS_DIR_ENV", "SETTINGS_ENV"]

#: ``module:function`` returning a ``StepCache``, called once in every worker.
FACTORY_ENV = "STEPCACHE_CACHE_FACTORY"
#: JSON object of keyword arguments for that function.
FACTORY_KWARGS_ENV = "STEPCACHE_CACHE_FACTORY_KWARGS"
#: JSON of the ``ServerSettings``.
SETTINGS_ENV = "STEPCACHE_SERVER_SETTINGS"
#: The directory where the workers write their metrics, so /metrics shows the sum over all of them.
#: Set only by ``run_workers`` with two workers or more: a stray ``PROMETHEUS_MULTIPROC_DIR`` alone does
#: not switch a worker's metrics to files.
METRICS_DIR_ENV = "STEPCACHE_METRICS_DIR"


def run_workers(
    cache_factory: str,
    settings: ServerSettings,
    *,
    workers: int,
    factory_kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Serve with ``workers`` uvicorn processes until interrupted.

    ``cache_factory`` is the import string (``"package.module:function"``) of a function building
    the ``StepCache`` each worker answers with; it is called as ``function(**factory_kwargs)``, so
    the keyword arguments must be JSON (an upstream URL, a store URL, a model name...). It is
    imported here first, so a wrong name fails now rather than in N workers; it is not called here
    (building a cache may load a local model).
    """
    import uvicorn

    if workers < 1:
        raise ConfigurationError(f"workers must be at least 1, not {workers}")
    settings.check_exposure()
    kwargs = dict(factory_kwargs or {})
    try:
        encoded = json.dumps(kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"the cache factory's keyword arguments must be JSON (strings, numbers, ...) to reach the workers: {exc}"
        ) from exc
    _load_factory(cache_factory)
    os.environ[FACTORY_ENV] = cache_factory
    os.environ[FACTORY_KWARGS_ENV] = encoded
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    with shared_metrics_dir(workers):
        uvicorn.run("stepcache.server:app_from_env", factory=True, workers=workers, **settings.uvicorn_options())


@contextmanager
def shared_metrics_dir(workers: int) -> Iterator[str | None]:
    """A fresh directory for the workers' metric files, named in the environment they will start with
    and removed (the environment restored) afterwards; ``None`` and no directory for one worker, which
    uvicorn runs in this process. Fresh, so a previous run's counts are not added to this one's."""
    if workers < 2:
        yield None
        return
    from ._metrics import MULTIPROC_ENV

    saved = {name: os.environ.get(name) for name in (METRICS_DIR_ENV, MULTIPROC_ENV)}
    with tempfile.TemporaryDirectory(prefix="stepcache-metrics-") as directory:
        os.environ[METRICS_DIR_ENV] = os.environ[MULTIPROC_ENV] = directory
        try:
            yield directory
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def app_from_env() -> Starlette:
    """The app of one worker started by :func:`run_workers` (uvicorn calls it as a factory). The
    app owns its ``StepCache`` and closes it when the worker shuts down."""
    from ._app import create_app
    from ._metrics import Metrics

    name = os.environ.get(FACTORY_ENV)
    if not name:
        raise ConfigurationError(
            f"{FACTORY_ENV} is not set: start workers with stepcache.server.run_workers(), or set it to "
            "'module:function' returning a StepCache"
        )
    try:
        kwargs = json.loads(os.environ.get(FACTORY_KWARGS_ENV) or "{}")
        settings = ServerSettings.model_validate_json(os.environ.get(SETTINGS_ENV) or "{}")
    except ValueError as exc:
        raise ConfigurationError(f"{FACTORY_KWARGS_ENV} or {SETTINGS_ENV} is not valid: {exc}") from exc
    metrics_dir = os.environ.get(METRICS_DIR_ENV)
    # Checked before the cache is built (that may load a model): a worker whose counts the others
    # could not see must not start.
    metrics = Metrics(multiprocess_dir=metrics_dir) if metrics_dir else None
    watch_master(os.getppid())
    app = create_app(_load_factory(name)(**kwargs), settings, owns_cache=True)
    if metrics is not None:
        # create_app makes a process-local Metrics; this worker's counts go to the shared files instead.
        app.state.stepcache.metrics = metrics
    return app


def watch_master(master: int, *, interval: float = 1.0, exit: Callable[[], None] | None = None) -> threading.Thread:
    """Exit this worker when the process that started it is gone (killed with ``kill -9``, its
    workers are re-parented and would keep serving as orphans). A daemon thread polls the parent id."""

    def watch() -> None:
        while os.getppid() == master:
            time.sleep(interval)
        log.warning("the master process %d is gone; this worker (pid %d) exits", master, os.getpid())
        (exit or _exit_now)()

    thread = threading.Thread(target=watch, name="stepcache-master-watch", daemon=True)
    thread.start()
    return thread


def _exit_now() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's own shutdown: the cache is closed, counters flushed


def _load_factory(name: str) -> Any:
    module_name, _, attr = name.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr) if attr else None
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot import the cache factory {name!r}: {exc}") from exc
    if not callable(factory):
        raise ConfigurationError(f"the cache factory {name!r} must name a function as 'package.module:function'")
    return factory
