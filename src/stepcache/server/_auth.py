"""Who a client is: its API key, the tenant it belongs to, and the cache namespace that follows.

A client's key is read from ``Authorization: Bearer KEY``, ``api-key: KEY`` (Azure style) or
``x-api-key: KEY``; ``Authorization: Basic ...`` counts as a key too (its credential string). The key
itself is never stored, logged or forwarded: only its SHA-256.

With an API-keys file (``stepcache serve --api-keys FILE``) only listed keys are answered, each in
its tenant's namespace; any other key, or none, gets HTTP 401. The file holds one key per line, its
tenant and the key's SHA-256 (``stepcache keys new TENANT --file FILE`` makes a key and appends its
line)::

    # tenant      sha256 of the key
    team-search   3f1c9a...e2 (64 hex digits)

Without a file every distinct key (of any header kind) is its own namespace and requests without a
key share ``anonymous``; ``stepcache serve`` then refuses to listen beyond loopback unless told
``--allow-anonymous``, since anyone who reaches it spends the operator's upstream key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from .._exceptions import ConfigurationError, StepCacheError

__all__ = ["Unauthorized", "client_key", "hash_key", "load_api_keys", "new_key", "namespace_for"]

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


class Unauthorized(StepCacheError):
    """The client's API key is missing or not one this proxy accepts (HTTP 401)."""


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


def namespace_for(headers: Mapping[str, str], api_keys: Mapping[str, str] | None, shared: str | None = None) -> str:
    """The cache namespace of a request; raises :class:`Unauthorized` when keys are required and
    the request has none this proxy knows."""
    key = client_key(headers)
    if api_keys is not None:
        tenant = api_keys.get(hash_key(key)) if key else None
        if tenant is None:
            raise Unauthorized(
                "a valid API key is required: send it as 'Authorization: Bearer KEY' (or an 'api-key' / "
                "'x-api-key' header); ask the proxy's operator for one"
                if key is None else "this API key is not accepted by the proxy; ask its operator for a key"
            )
        return shared or f"tenant-{tenant}"
    if shared is not None:
        return shared
    return "anonymous" if key is None else "key-" + hash_key(key)[:32]


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
