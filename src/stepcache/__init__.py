"""StepCache: step-level reuse for LLM serving.

Reuse verified steps of earlier answers for look-alike requests; regenerate only what fails.

    from stepcache import StepCache, OpenAIHTTPBackend, open_store

    cache = StepCache(OpenAIHTTPBackend("http://127.0.0.1:8080/v1"), store=open_store("sqlite:///cache.db"))
    result = cache.complete({"messages": [{"role": "user", "content": "Solve 3x + 5 = 20"}]})
    print(result.text, result.path)
"""

from ._engine import AnswerStream, CacheConfig, StepCache
from ._exceptions import (
    BackendError,
    ConfigurationError,
    InvalidRequest,
    MissingDependency,
    StepCacheError,
    StoreError,
    StoreVersionError,
    UnverifiableAnswer,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from ._types import (
    FORMAT_VERSION,
    AuditOutcome,
    BackendRequest,
    ChatRequest,
    Completion,
    Entry,
    Message,
    Result,
    Route,
    Scope,
    StepCheck,
    StepCounts,
    StoreStats,
    TokenUsage,
    Verification,
)
from .backends import Backend
from .backends.http import OpenAIHTTPBackend
from .backends.llama import LlamaCppBackend
from .backends.scripted import ScriptedBackend
from .families import Family, Task
from .retrieve import Embedder
from .retrieve.ngram import HashedNgramEmbedder
from .store import Store, open_store
from .store.memory import MemoryStore
from .store.sqlite import SQLiteStore

__version__ = "0.1.0"

__all__ = [
    # engine
    "StepCache",
    "CacheConfig",
    "AnswerStream",
    # values
    "FORMAT_VERSION",
    "ChatRequest",
    "Message",
    "Result",
    "Route",
    "AuditOutcome",
    "StepCounts",
    "TokenUsage",
    "Verification",
    "StepCheck",
    "BackendRequest",
    "Completion",
    "Entry",
    "Scope",
    "StoreStats",
    # seams and their implementations
    "Backend",
    "OpenAIHTTPBackend",
    "LlamaCppBackend",
    "ScriptedBackend",
    "Store",
    "MemoryStore",
    "SQLiteStore",
    "open_store",
    "Embedder",
    "HashedNgramEmbedder",
    "Family",
    "Task",
    # errors
    "StepCacheError",
    "InvalidRequest",
    "ConfigurationError",
    "MissingDependency",
    "StoreError",
    "StoreVersionError",
    "BackendError",
    "UpstreamTimeout",
    "UpstreamStatusError",
    "UpstreamProtocolError",
    "UnverifiableAnswer",
    "__version__",
]


def __getattr__(name: str) -> object:
    # ``Path`` was this enum's name until it was renamed ``Route`` (it shadowed ``pathlib.Path``);
    # the old name works, with a warning, for one release.
    if name == "Path":
        import warnings

        warnings.warn(
            "stepcache.Path is now stepcache.Route; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return Route
    raise AttributeError(f"module 'stepcache' has no attribute {name!r}")
