"""The systems the benchmark compares, behind one small seam: :meth:`System.answer`.

Every system answers a :class:`~stepcache_bench.workload.WorkloadItem` with the same backend
object, so a cache miss costs exactly what the bare model costs:

* :class:`NoCache` — the backend directly;
* :class:`ExactCacheSystem` — :class:`ExactMatchCache`, normalised messages + response_format → text;
* :class:`GPTCacheSystem` — GPTCache (``stepcache[bench]``) configured offline as its docs recommend:
  faiss vector index, SQLite scalar store, ``SearchDistanceEvaluation``, with StepCache's own
  embedder so retrieval quality is not what differs;
* :class:`StepCacheSystem` — :class:`~stepcache.StepCache` on a fresh store.

:data:`SYSTEMS` maps the command-line names to factories; each factory builds a fresh, empty cache
so no system benefits from another's warm-up.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepcache import Backend, BackendRequest, ChatRequest, Embedder, MissingDependency, Result

from .workload import WorkloadItem

__all__ = [
    "Answer",
    "System",
    "NoCache",
    "ExactMatchCache",
    "ExactCacheSystem",
    "GPTCacheSystem",
    "StepCacheSystem",
    "SystemFactory",
    "SYSTEMS",
    "DEFAULT_SYSTEMS",
    "GPTCACHE_THRESHOLD",
    "GPTCACHE_STRICT_THRESHOLD",
]

#: GPTCache's ``Config.similarity_threshold`` default, which its "beginner level" set-up
#: (embedding + sqlite/faiss + SearchDistanceEvaluation, docs/configure_it.md) runs with.
GPTCACHE_THRESHOLD = 0.8
#: The stricter setting: with unit vectors and faiss's squared-L2 distance the evaluation score is
#: ``4 − d² = 2 + 2·cos``, so 0.8 admits cos ≥ 0.6 and 0.95 admits cos ≥ 0.9.
GPTCACHE_STRICT_THRESHOLD = 0.95


@dataclass(frozen=True, slots=True)
class Answer:
    """One system's answer to one item.

    ``hit`` — served from the cache (StepCache: path reuse or patch); ``None`` for no cache.
    ``path`` — StepCache's path; ``None`` for other systems. ``stored`` — the answer is now cached.
    ``family`` — the task family StepCache detected (``Result.family``); ``None`` for other systems.
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    hit: bool | None = None
    path: str | None = None
    stored: bool | None = None
    detail: str = ""  # StepCache's reason for its path
    family: str | None = None


class System(ABC):
    """A way of answering workload items. One verb; ``close()`` releases its cache."""

    name: str = "system"

    @abstractmethod
    def answer(self, item: WorkloadItem, model: str) -> Answer:
        """Answer ``item``. StepCache errors propagate; the runner records them."""

    def close(self) -> None:
        """Release the cache (the backend belongs to the caller)."""


class NoCache(System):
    """The model directly, with the same request every cache forwards on a miss."""

    name = "no cache"

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def answer(self, item: WorkloadItem, model: str) -> Answer:
        completion = self.backend.complete(item.request.backend_request(model))
        return Answer(completion.text, completion.prompt_tokens, completion.completion_tokens)


_SPACE = re.compile(r"\s+")


class ExactMatchCache:
    """Normalised request → response text: what a plain response cache does.

    Normalisation collapses whitespace and trims each message; roles, case, the model and the
    ``response_format`` (as canonical JSON) are part of the key, since each can change the answer.
    """

    def __init__(self) -> None:
        self._answers: dict[str, str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(request: BackendRequest) -> str:
        messages = [(m.get("role", ""), _SPACE.sub(" ", m.get("content", "")).strip()) for m in request.messages]
        return json.dumps([request.model, messages, request.response_format], sort_keys=True, ensure_ascii=False)

    def get(self, request: BackendRequest) -> str | None:
        with self._lock:
            return self._answers.get(self.key(request))

    def put(self, request: BackendRequest, text: str) -> None:
        with self._lock:
            self._answers[self.key(request)] = text

    def __len__(self) -> int:
        return len(self._answers)


class ExactCacheSystem(System):
    name = "exact"

    def __init__(self, backend: Backend, cache: ExactMatchCache | None = None) -> None:
        self.backend = backend
        self.cache = cache or ExactMatchCache()

    def answer(self, item: WorkloadItem, model: str) -> Answer:
        request = item.request.backend_request(model)
        cached = self.cache.get(request)
        if cached is not None:
            return Answer(cached, hit=True, stored=True)
        completion = self.backend.complete(request)
        self.cache.put(request, completion.text)
        return Answer(completion.text, completion.prompt_tokens, completion.completion_tokens, hit=False, stored=True)


class StepCacheSystem(System):
    """:class:`~stepcache.StepCache` (or anything with its ``complete``) in front of the backend."""

    name = "StepCache"

    def __init__(self, cache: Any, name: str | None = None) -> None:
        self.cache = cache
        if name:
            self.name = name

    def answer(self, item: WorkloadItem, model: str) -> Answer:
        request: ChatRequest = item.request.chat_request(model)
        result: Result = self.cache.complete(request)
        usage = result.upstream_tokens
        path = result.path.value
        return Answer(
            result.text,
            usage.prompt,
            usage.completion,
            hit=path in ("reuse", "patch"),
            path=path,
            stored=result.stored is not None,
            detail=result.detail,
            family=result.family,
        )

    def close(self) -> None:
        store = getattr(self.cache, "store", None)
        if store is not None:
            store.close()


class GPTCacheSystem(System):
    """GPTCache's ``Cache`` with ``get``/``put`` from ``gptcache.adapter.api``; misses go to ``backend``.

    Configured offline as GPTCache's docs describe a similar cache (``init_similar_cache``'s parts):
    ``get_prompt`` pre-processing of the user message (what its OpenAI adapter's ``last_content``
    sees: the response_format is not part of the key), a faiss ``IDMap,Flat`` L2 index, a SQLite
    scalar store in ``workdir``, ``SearchDistanceEvaluation()`` and ``Config(similarity_threshold)``.
    The embedding function is StepCache's embedder, so both caches retrieve with the same vectors.
    """

    def __init__(
        self,
        backend: Backend,
        embedder: Embedder,
        workdir: str | Path,
        *,
        threshold: float = GPTCACHE_THRESHOLD,
        name: str | None = None,
    ) -> None:
        _require_gptcache()
        from gptcache import Cache, Config
        from gptcache.adapter.api import get, put
        from gptcache.manager import manager_factory
        from gptcache.processor.pre import get_prompt
        from gptcache.similarity_evaluation import SearchDistanceEvaluation

        self.backend = backend
        self.embedder = embedder
        self.threshold = threshold
        self.name = name or f"GPTCache ({threshold:g})"
        self._get, self._put = get, put
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # GPTCache 0.1.44 still calls SQLAlchemy 1.x APIs; the deprecation is theirs, not a fault here.
            warnings.simplefilter("ignore")
            self._data = manager_factory(
                "sqlite,faiss",
                data_dir=str(workdir),
                scalar_params={"sql_url": f"sqlite:///{workdir / 'gptcache.db'}"},
                vector_params={"dimension": embedder.dim, "index_file_path": str(workdir / "faiss.index")},
            )
        self.cache = Cache()
        self.cache.init(
            pre_embedding_func=get_prompt,
            embedding_func=self._embed,
            data_manager=self._data,
            similarity_evaluation=SearchDistanceEvaluation(),
            config=Config(similarity_threshold=threshold),
        )

    def _embed(self, data: str, **_: Any) -> Any:
        return self.embedder.embed(data)

    def answer(self, item: WorkloadItem, model: str) -> Answer:
        prompt = item.request.messages[-1].get("content", "")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # see __init__
            cached = self._get(prompt, cache_obj=self.cache)
        if cached is not None:
            return Answer(str(cached), hit=True, stored=True)
        completion = self.backend.complete(item.request.backend_request(model))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._put(prompt, completion.text, cache_obj=self.cache)
        return Answer(completion.text, completion.prompt_tokens, completion.completion_tokens, hit=False, stored=True)

    def close(self) -> None:
        data, self._data = self._data, None
        if data is None:
            return
        data.close()
        # Cache.init registered an atexit hook that closes the data manager again; by then the temp
        # dir is gone and faiss would log a write error. Point the hook at a manager with nothing to do.
        self.cache.data_manager = _ClosedDataManager()


class _ClosedDataManager:
    def close(self) -> None:
        pass

    def flush(self) -> None:
        pass


def _require_gptcache() -> None:
    from importlib.util import find_spec

    # GPTCache pip-installs missing backends at run time; we refuse and point at the extra instead.
    for module, package in (("gptcache", "gptcache"), ("faiss", "faiss-cpu"), ("sqlalchemy", "sqlalchemy")):
        if find_spec(module) is None:
            raise MissingDependency(package, "bench", "The GPTCache comparison (stepcache bench --systems gptcache)")


# -- registry ------------------------------------------------------------------------------------

#: ``factory(backend, workdir)`` → a fresh system with an empty cache.
SystemFactory = Callable[[Backend, Path], System]


def _stepcache(backend: Backend, workdir: Path) -> System:
    from stepcache import HashedNgramEmbedder, SQLiteStore, StepCache

    store = SQLiteStore(workdir / "stepcache.db")
    return StepCacheSystem(StepCache(backend, store=store, embedder=HashedNgramEmbedder()))


def _stepcache_unconfirmed(backend: Backend, workdir: Path) -> System:
    """StepCache reusing a word problem's solution without a second instance's confirmation."""
    from stepcache import HashedNgramEmbedder, SQLiteStore, StepCache
    from stepcache.families import load_families
    from stepcache.families.arithmetic import ArithmeticFamily

    families = [ArithmeticFamily(confirmations=0) if f.name == "arithmetic" else f for f in load_families()]
    store = SQLiteStore(workdir / "stepcache.db")
    cache = StepCache(backend, store=store, embedder=HashedNgramEmbedder(), families=families)
    return StepCacheSystem(cache, name="StepCache (0 confirmations)")


def _gptcache(threshold: float) -> SystemFactory:
    def build(backend: Backend, workdir: Path) -> System:
        from stepcache import HashedNgramEmbedder

        return GPTCacheSystem(backend, HashedNgramEmbedder(), workdir, threshold=threshold)

    return build


SYSTEMS: dict[str, SystemFactory] = {
    "nocache": lambda backend, workdir: NoCache(backend),
    "exact": lambda backend, workdir: ExactCacheSystem(backend),
    "gptcache": _gptcache(GPTCACHE_THRESHOLD),
    "gptcache-strict": _gptcache(GPTCACHE_STRICT_THRESHOLD),
    "stepcache": _stepcache,
    "stepcache-unconfirmed": _stepcache_unconfirmed,
}
DEFAULT_SYSTEMS: tuple[str, ...] = ("nocache", "exact", "gptcache", "gptcache-strict", "stepcache")


def fresh_workdir(root: str | Path | None, name: str) -> Path:
    """A new empty directory for one system's cache files."""
    return Path(tempfile.mkdtemp(prefix=f"stepcache-bench-{name}-", dir=root))
