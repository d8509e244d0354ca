"""StepCache's exception tree.

Every error StepCache raises derives from :class:`StepCacheError`::

    StepCacheError
    ├── InvalidRequest          bad input from the caller (HTTP 400); nothing is stored
    ├── ConfigurationError      the operator's set-up is wrong (missing model, bad store URL, ...)
    │   └── MissingDependency   an optional extra is not installed
    ├── StoreError              the cache store failed or holds data we cannot read
    │   └── StoreVersionError   the store was written by a newer StepCache
    ├── BackendError            the model upstream failed
    │   ├── UpstreamTimeout     no answer in time (HTTP 504)            retryable
    │   ├── UpstreamStatusError the upstream answered with an error    retryable for 429/5xx
    │   └── UpstreamProtocolError the upstream's answer is not what the API promises (HTTP 502)
    └── UnverifiableAnswer      the model's answer failed verification and no safe fallback exists

Upstream library errors (httpx, llama.cpp, sqlite3, psycopg) are converted at the boundary with
``raise ... from exc`` so callers only ever need to catch this tree.
Each class says whether retrying the same call may succeed (``retryable``).
"""

from __future__ import annotations

__all__ = [
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
]


class StepCacheError(Exception):
    """Base class of every error StepCache raises."""

    retryable: bool = False


class InvalidRequest(StepCacheError, ValueError):
    """The request is malformed. The message says which field and how to fix it."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ConfigurationError(StepCacheError):
    """StepCache is set up wrongly (a model file, a store URL, an option)."""


class MissingDependency(ConfigurationError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'stepcache[{extra}]'"
        )
        self.package = package
        self.extra = extra


class StoreError(StepCacheError):
    """The cache store failed. Entries already stored are left as they were."""


class StoreVersionError(StoreError):
    """The store was migrated by a newer StepCache than this one."""


class BackendError(StepCacheError):
    """The model upstream failed to produce an answer."""


class UpstreamTimeout(BackendError):
    """The upstream did not answer in time."""

    retryable = True


class UpstreamStatusError(BackendError):
    """The upstream answered with an HTTP error status."""

    def __init__(self, message: str, *, status_code: int, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.retryable = status_code == 429 or status_code >= 500


class UpstreamProtocolError(BackendError):
    """The upstream's answer does not follow the OpenAI API (not JSON, no choices, ...)."""


class UnverifiableAnswer(StepCacheError):
    """The model's answer failed verification, repair did not fix it, and no fallback exists.

    ``report`` is the last :class:`~stepcache.Verification` so callers can show what failed.
    """

    def __init__(self, message: str, *, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report
