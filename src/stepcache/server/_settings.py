"""The proxy's settings: everything ``stepcache serve`` can be told, typed and checked up front."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._exceptions import ConfigurationError

__all__ = ["ServerSettings"]


class ServerSettings(BaseModel):
    """How the OpenAI-compatible proxy behaves. Unknown fields are rejected.

    The backend (upstream URL, the operator's API key) and the store are configured on the
    :class:`~stepcache.StepCache` given to :func:`~stepcache.server.create_app`; these settings cover
    only the HTTP side.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: Pin the model name: used as the cache scope's model, in responses, in forwarded (bypass)
    #: bodies and as ``/v1/models``'s fallback. ``None``: use the model each client names.
    upstream_model: str | None = None
    #: Cache requests with ``temperature > 0`` too. Off by default: a client asking for samples
    #: expects different answers to the same prompt, which a cache would not give.
    allow_sampling_cache: bool = False
    #: Put every client in this one cache namespace. ``None`` (default): one namespace per tenant
    #: (with ``api_keys``) or per client API key (a hash of it; the key is never stored or forwarded).
    shared_namespace: str | None = Field(default=None, min_length=1, max_length=128)
    #: The keys this proxy answers: SHA-256 hex of each key → its tenant (see ``_auth``;
    #: ``stepcache serve --api-keys FILE``). ``None``: any client is answered, each key in its own
    #: namespace — only for a proxy that listens on loopback, or with ``allow_anonymous``.
    api_keys: dict[str, str] | None = None
    #: Per-tenant limits (with ``api_keys``): tenant → ``requests_per_minute`` / ``tokens_per_day``,
    #: counted per proxy process; beyond them HTTP 429 with ``Retry-After``.
    tenant_limits: dict[str, dict[str, int]] | None = None
    #: Pass-through mode: every client must send its own upstream API key, which the proxy forwards
    #: to the upstream in place of the operator's (the upstream authenticates and bills it); each
    #: key has its own cache namespace (a hash of it), so a key the upstream never accepted has no
    #: entries to be served. Not combined with ``api_keys`` or ``shared_namespace``.
    pass_through_keys: bool = False
    #: Listen beyond loopback without ``api_keys`` (anyone who reaches the proxy spends the
    #: operator's upstream key).
    allow_anonymous: bool = False
    #: Request bodies larger than this are refused with HTTP 400.
    max_body_bytes: int = Field(default=4_000_000, ge=1024)
    #: Request heads (request line and headers) larger than this are refused (the connection is
    #: closed): a 10 MB header must not cost 10 MB per socket.
    max_header_bytes: int = Field(default=65_536, ge=4096)
    #: A connection whose request head (request line and headers) is not complete this many
    #: seconds after it could start (the connection opened, or the previous response ended, plus
    #: the keep-alive wait) is closed: slow or silent clients cannot hold sockets forever.
    header_timeout_s: float = Field(default=10.0, gt=0)
    #: Completions in flight beyond this get HTTP 429 with ``Retry-After`` instead of queueing.
    max_in_flight: int = Field(default=256, ge=1)
    #: Idle keep-alive connections are closed after this many seconds.
    keep_alive_s: float = Field(default=5.0, gt=0)
    #: ``False`` forwards every request to the backend uncached (path ``bypass``): a baseline for
    #: benchmarks that keeps the proxy's own overhead in the comparison.
    cache_enabled: bool = True
    #: Let concurrent identical requests share one engine call (and so one upstream call on a miss).
    coalesce: bool = True
    #: Try the cache's reuse path (``StepCache.lookup``: no model call) on the event loop before
    #: handing the request to a worker thread. ``None`` (default): on for in-process stores (memory,
    #: SQLite), off for others, whose network round trips would stall every other request meanwhile.
    inline_lookup: bool | None = None
    #: Threads running the (synchronous) engine; bounds concurrent upstream calls.
    worker_threads: int = Field(default=40, ge=1, le=1024)
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    access_log: bool = False

    def uvicorn_options(self) -> dict[str, Any]:
        """The HTTP server's own limits, the same for one process and for ``--workers``."""
        return {
            "host": self.host,
            "port": self.port,
            "log_level": self.log_level,
            "access_log": self.access_log,
            "h11_max_incomplete_event_size": self.max_header_bytes,
            "timeout_keep_alive": self.keep_alive_s,
            **_guarded_protocol(),
        }

    @model_validator(mode="after")
    def _one_key_scheme(self) -> ServerSettings:
        if self.pass_through_keys and self.api_keys is not None:
            raise ValueError(
                "pass_through_keys and api_keys are two ways to authenticate clients; choose one "
                "(--pass-through-keys lets the upstream check each client's own key)"
            )
        if self.pass_through_keys and self.shared_namespace is not None:
            raise ValueError(
                "pass_through_keys needs one cache namespace per client key: with a shared namespace a key "
                "the upstream would refuse could be answered from another client's entries"
            )
        return self

    def check_exposure(self) -> None:
        """Refuse to listen beyond loopback without API keys unless ``allow_anonymous`` says so."""
        guarded = self.api_keys is not None or self.pass_through_keys
        if not guarded and not self.allow_anonymous and not _loopback(self.host):
            raise ConfigurationError(
                f"refusing to listen on {self.host} without API keys: anyone who reaches the proxy would spend "
                "the upstream key. Give --api-keys FILE (make keys with 'stepcache keys new TENANT --file FILE'), "
                "let the upstream check each client's own key with --pass-through-keys, listen on 127.0.0.1, "
                "or pass --allow-anonymous"
            )


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _guarded_protocol() -> dict[str, str]:
    """uvicorn's ``http`` option for the protocol that bounds request heads, when httptools (part
    of ``uvicorn[standard]``) is there; without it uvicorn's h11 bounds only their size."""
    try:
        from ._http import PROTOCOL
    except ImportError:
        return {}
    return {"http": PROTOCOL}
