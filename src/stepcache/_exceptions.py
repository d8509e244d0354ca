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
Each class says whether retrying the same call may succeed (``retryable``), and what it means to a
client: its HTTP status, OpenAI error ``type`` and ``code`` (the proxy answers with them) and the
command line's exit code — read from the error, never from a ladder of ``isinstance`` checks.
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
    #: What the proxy answers with: HTTP status, OpenAI error type and code, and what its message
    #: is prefixed with there (the message itself says what happened).
    http_status: int = 500
    error_type: str = "server_error"
    error_code: str = "stepcache_error"
    http_prefix: str = ""
    #: ``stepcache``'s exit status: 1 error, 2 bad input or set-up, 3 upstream failure, 4 unverifiable.
    exit_code: int = 1

    def client_message(self) -> str:
        """The message a proxy client reads."""
        return f"{self.http_prefix}{self}"


class InvalidRequest(StepCacheError, ValueError):
    """The request is malformed. The message says which field and how to fix it."""

    http_status = 400
    error_type = "invalid_request_error"
    error_code = "invalid_request"
    exit_code = 2

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ConfigurationError(StepCacheError):
    """StepCache is set up wrongly (a model file, a store URL, an option)."""

    error_code = "configuration_error"
    http_prefix = "the proxy is misconfigured: "
    exit_code = 2


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

    error_code = "store_error"
    http_prefix = "the cache store failed: "


class StoreVersionError(StoreError):
    """The store was migrated by a newer StepCache than this one."""


class BackendError(StepCacheError):
    """The model upstream failed to produce an answer."""

    http_status = 502
    error_type = "upstream_error"
    error_code = "upstream_unavailable"
    http_prefix = "the upstream is unavailable: "
    exit_code = 3


class UpstreamTimeout(BackendError):
    """The upstream did not answer in time."""

    retryable = True
    http_status = 504
    error_code = "upstream_timeout"
    http_prefix = "the upstream model timed out: "


class UpstreamStatusError(BackendError):
    """The upstream answered with an HTTP error status: a 429 is passed on as one, a request the
    upstream rejects (400, 404, 413, 422) as the client's 400, anything else as a 502."""

    http_prefix = "the upstream failed: "
    error_code = "upstream_status"

    def __init__(self, message: str, *, status_code: int, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.retryable = status_code == 429 or status_code >= 500
        if status_code == 429:
            self.http_status, self.error_type, self.error_code = 429, "rate_limit_error", "upstream_rate_limited"
            self.http_prefix = "the upstream is rate-limiting: "
        elif status_code in (400, 404, 413, 422):
            self.http_status, self.error_type, self.error_code = 400, "invalid_request_error", "upstream_rejected"
            self.http_prefix = "the upstream rejected the request: "


class UpstreamProtocolError(BackendError):
    """The upstream's answer does not follow the OpenAI API (not JSON, no choices, ...)."""

    error_code = "upstream_bad_response"
    http_prefix = "the upstream's answer is unusable: "


class UnverifiableAnswer(StepCacheError):
    """The model's answer failed verification, repair did not fix it, and no fallback exists.

    ``report`` is the last :class:`~stepcache.Verification` so callers can show what failed.
    """

    http_status = 502
    error_type = "upstream_error"
    error_code = "unverifiable_answer"
    exit_code = 4

    def __init__(self, message: str, *, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report

    def client_message(self) -> str:
        message = str(self)
        summary = getattr(self.report, "summary", None)
        if callable(summary) and str(summary()) not in message:
            message += f" (verification: {summary()})"
        return message
