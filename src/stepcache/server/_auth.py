"""Who a client is: its API key, the tenant it belongs to, and the cache namespace that follows.

A client's key is read from ``Authorization: Bearer KEY``, ``api-key: KEY`` (Azure style) or
``x-api-key: KEY``; ``Authorization: Basic ...`` counts as a key too (its credential string). The key
itself is never stored, logged or forwarded: only its SHA-256.

With an API-keys file (``stepcache serve --api-keys FILE``) only listed keys are answered, each in
its tenant's namespace; any other key, or none, gets HTTP 401. The file holds one key per line, its
tenant and the key's SHA-256 (``stepcache keys new TENANT --file FILE`` makes a key and appends its
line)::

    # tenant      sha256 of the key             optional limits
    team-search   3f1c9a...e2 (64 hex digits)   rpm=120 tpd=500000

In pass-through mode (``--pass-through-keys``) the client's key is its upstream key: the proxy
forwards it in place of the operator's and the upstream accepts or refuses it; a request without a
key gets 401, and each key has its own namespace, so a key the upstream never accepted has nothing
cached to be served. A key revoked upstream is still answered from its own entries until they expire
or are purged (``stepcache purge --namespace key-...``).

Without a file every distinct key (of any header kind) is its own namespace and requests without a
key share ``anonymous``; ``stepcache serve`` then refuses to listen beyond loopback unless told
``--allow-anonymous``, since anyone who reaches it spends the operator's upstream key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

from .._exceptions import ConfigurationError, StepCacheError

__all__ = [
    "Unauthorized",
    "RateLimited",
    "TenantLimits",
    "client_key",
    "hash_key",
    "load_api_keys",
    "load_tenant_limits",
    "new_key",
    "namespace_for",
]

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


class Unauthorized(StepCacheError):
    """The client's API key is missing or not one this proxy accepts (HTTP 401)."""

    http_status = 401
    error_type = "invalid_request_error"
    error_code = "invalid_api_key"
    exit_code = 2


class RateLimited(StepCacheError):
    """The tenant is over its request rate or token budget (HTTP 429); ``retry_after`` in seconds."""

    retryable = True
    http_status = 429
    error_type = "rate_limit_error"
    error_code = "tenant_rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TenantLimits:
    """Request rates (a sliding minute) and upstream-token budgets (a day) per tenant, counted in
    this process. Called from the event loop only, so no lock."""

    def __init__(self, limits: Mapping[str, Mapping[str, int]], clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {tenant: dict(v) for tenant, v in limits.items()}
        self.clock = clock
        self.requests: dict[str, deque[float]] = {}
        self.tokens: dict[str, tuple[int, int]] = {}  # tenant -> (day number, tokens spent)

    def admit(self, tenant: str) -> None:
        """Count one request of ``tenant`` or raise :class:`RateLimited`."""
        limits = self.limits.get(tenant)
        if not limits:
            return
        now = self.clock()
        budget = limits.get("tokens_per_day")
        day, spent = self.tokens.get(tenant, (int(now // 86400), 0))
        if budget is not None and day == int(now // 86400) and spent >= budget:
            raise RateLimited(
                f"tenant {tenant!r} has spent its {budget} upstream tokens for today; ask the operator for a "
                "larger budget",
                retry_after=int(86400 - now % 86400) + 1,
            )
        rpm = limits.get("requests_per_minute")
        if rpm is not None:
            window = self.requests.setdefault(tenant, deque())
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= rpm:
                raise RateLimited(
                    f"tenant {tenant!r} is over its {rpm} requests a minute; retry shortly",
                    retry_after=int(60 - (now - window[0])) + 1,
                )
            window.append(now)

    def spent(self, tenant: str, tokens: int) -> None:
        if not tokens or tenant not in self.limits:
            return
        today = int(self.clock() // 86400)
        day, spent = self.tokens.get(tenant, (today, 0))
        self.tokens[tenant] = (today, (spent if day == today else 0) + tokens)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key() -> str:
    """A fresh random client key."""
    return "sk-stepcache-" + secrets.token_urlsafe(32)


def client_key(headers: Mapping[str, str]) -> str | None:
    """The key a client presented, from whichever header carries it; ``None`` when there is none."""
    scheme, _, credential = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() in ("bearer", "basic") and credential.strip():
        return credential.strip()
    for name in ("api-key", "x-api-key"):
        value = (headers.get(name) or "").strip()
        if value:
            return value
    return None


def namespace_for(
    headers: Mapping[str, str],
    api_keys: Mapping[str, str] | None,
    shared: str | None = None,
    *,
    pass_through: bool = False,
) -> str:
    """The cache namespace of a request; raises :class:`Unauthorized` when keys are required and
    the request has none this proxy knows (or, with ``pass_through``, none at all: the upstream
    checks the key itself)."""
    key = client_key(headers)
    if pass_through:
        if key is None:
            raise Unauthorized(
                "this proxy forwards each client's own upstream API key: send it as 'Authorization: Bearer KEY' "
                "(or an 'api-key' / 'x-api-key' header)"
            )
        return "key-" + hash_key(key)[:32]
    if api_keys is not None:
        tenant = api_keys.get(hash_key(key)) if key else None
        if tenant is None:
            raise Unauthorized(
                "a valid API key is required: send it as 'Authorization: Bearer KEY' (or an 'api-key' / "
                "'x-api-key' header); ask the proxy's operator for one"
                if key is None
                else "this API key is not accepted by the proxy; ask its operator for a key"
            )
        return shared or f"tenant-{tenant}"
    if shared is not None:
        return shared
    return "anonymous" if key is None else "key-" + hash_key(key)[:32]


#: Optional per-tenant limits after a key's hash: ``rpm=60`` requests a minute, ``tpd=200000``
#: upstream tokens a day (both per proxy process).
_LIMIT_NAMES = {"rpm": "requests_per_minute", "tpd": "tokens_per_day"}


def _limits_of(fields: list[str], where: str) -> dict[str, int]:
    limits: dict[str, int] = {}
    for field in fields:
        name, _, value = field.partition("=")
        if name not in _LIMIT_NAMES or not value.isdigit() or int(value) < 1:
            raise ConfigurationError(
                f"{where}: {field!r} is not a limit; after 'TENANT SHA256' write rpm=N (requests a minute) "
                "and/or tpd=N (upstream tokens a day)"
            )
        limits[_LIMIT_NAMES[name]] = int(value)
    return limits


def load_tenant_limits(path: str | Path) -> dict[str, dict[str, int]]:
    """Per-tenant limits from the keys file (tenant → ``requests_per_minute`` / ``tokens_per_day``);
    a tenant listed with several keys takes the limits of its last line that has any."""
    limits: dict[str, dict[str, int]] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split("#", 1)[0].split()
        if len(parts) > 2:
            limits[parts[0]] = _limits_of(parts[2:], f"{path}:{number}")
    return limits


def load_api_keys(path: str | Path) -> dict[str, str]:
    """The keys file: SHA-256 hex → tenant. Raises :class:`ConfigurationError` naming the bad line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the API-keys file {path}: {exc.strerror or exc}") from exc
    keys: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        _limits_of(parts[2:], f"{path}:{number}")
        parts = parts[:2]
        if len(parts) != 2 or not _TENANT.match(parts[0]) or not _HEX.match(parts[1].lower()):
            raise ConfigurationError(
                f"{path}:{number}: expected 'TENANT SHA256' (a tenant name of letters, digits, '_', '.', '-' "
                "and the key's 64-hex-digit SHA-256); make lines with 'stepcache keys new TENANT --file FILE'"
            )
        tenant, digest = parts[0], parts[1].lower()
        if digest in keys and keys[digest] != tenant:
            raise ConfigurationError(f"{path}:{number}: this key is already listed for tenant {keys[digest]!r}")
        keys[digest] = tenant
    if not keys:
        raise ConfigurationError(f"{path} lists no API keys; add lines with 'stepcache keys new TENANT --file {path}'")
    return keys
