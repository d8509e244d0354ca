"""``stepcache serve`` (the proxy) and ``stepcache keys`` (its client keys)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError, InvalidRequest
from ._options import (
    add_backend_options,
    add_store_option,
    backend_from_args,
    byte_size,
    duration,
    env_default,
    positive_count,
)

__all__ = ["register", "build_cache"]

EXIT_OK = 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the OpenAI-compatible proxy")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--no-cache",
        action="store_true",
        help="serve the backend directly, without caching (a baseline for benchmarks)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the store (use a sqlite:// or postgresql:// store; identical "
        "misses are coalesced per process)",
    )
    serve.add_argument(
        "--audit-rate",
        type=_audit_rate,
        default=env_default("STEPCACHE_AUDIT_RATE", "0"),
        metavar="R",
        help="share (0..1) of reused or patched answers asked again upstream in the background and compared, "
        "to measure the wrong-reuse rate; a wrong entry is quarantined. Costs about R x the reused "
        "requests' tokens (env STEPCACHE_AUDIT_RATE, default 0: off)",
    )
    serve.add_argument(
        "--api-keys",
        default=env_default("STEPCACHE_API_KEYS"),
        metavar="FILE",
        help="answer only the keys listed in FILE, each in its tenant's namespace; others get 401 "
        "(lines 'TENANT SHA256'; make them with 'stepcache keys new'; env STEPCACHE_API_KEYS)",
    )
    serve.add_argument(
        "--pass-through-keys",
        action="store_true",
        default=(env_default("STEPCACHE_PASS_THROUGH_KEYS") or "") not in ("", "0", "false", "no"),
        help="forward each client's own API key to the upstream in place of STEPCACHE_UPSTREAM_API_KEY; the upstream "
        "accepts or refuses it and each key gets its own cache namespace (needs --upstream; env "
        "STEPCACHE_PASS_THROUGH_KEYS=1)",
    )
    serve.add_argument(
        "--allow-anonymous",
        action="store_true",
        help="listen beyond loopback without --api-keys (anyone who reaches the proxy spends the upstream key)",
    )
    serve.add_argument(
        "--max-entries",
        type=positive_count,
        default=env_default("STEPCACHE_MAX_ENTRIES"),
        metavar="N",
        help="size cap: past N entries the least recently used are evicted, down to 90%% of N "
        "(env STEPCACHE_MAX_ENTRIES; default: unbounded)",
    )
    serve.add_argument(
        "--max-bytes",
        type=byte_size,
        default=env_default("STEPCACHE_MAX_BYTES"),
        metavar="SIZE",
        help="size cap on stored answers (prompt, steps, text, task, embedding), e.g. 500M or 2G; evicts "
        "like --max-entries (env STEPCACHE_MAX_BYTES; default: unbounded)",
    )
    serve.add_argument(
        "--ttl",
        type=_ttl,
        default=env_default("STEPCACHE_TTL"),
        metavar="AGE",
        help="serve an entry for AGE after it is stored (e.g. 7d, 12h, 3600), then delete it "
        "(env STEPCACHE_TTL; default: until evicted or purged)",
    )
    add_backend_options(serve)
    add_store_option(serve)
    serve.set_defaults(handler=_serve)

    keys = sub.add_parser("keys", help="client API keys for 'stepcache serve --api-keys'")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    new_key = keys_sub.add_parser("new", help="make a key for a tenant: print it once, append its hash to FILE")
    new_key.add_argument("tenant", help="tenant name (letters, digits, '_', '.', '-'): the key's cache namespace")
    new_key.add_argument("--file", required=True, metavar="FILE", help="the API-keys file to append to")
    new_key.set_defaults(handler=_keys_new)


def _audit_rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not 0.0 <= rate <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"must be a share between 0 and 1 (from --audit-rate or STEPCACHE_AUDIT_RATE), e.g. 0.01 to "
            f"audit 1 in 100 reused answers; got {text!r}"
        )
    return rate


def _ttl(text: str) -> float:
    try:
        seconds = duration(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (serve also reads STEPCACHE_TTL)") from exc
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: an expiry must be longer than 0 (e.g. 7d, 12h)")
    return seconds


def _serve(args: argparse.Namespace) -> int:
    import pydantic

    from ..server import ServerSettings, run, run_workers
    from ..server._auth import load_api_keys, load_tenant_limits

    if args.pass_through_keys and not args.upstream:
        raise ConfigurationError(
            "--pass-through-keys needs an upstream that checks the keys: give --upstream URL (the embedded "
            "model checks none; use --api-keys FILE to restrict its clients)"
        )
    try:
        settings = ServerSettings(
            host=args.host,
            port=args.port,
            upstream_model=args.model,
            cache_enabled=not args.no_cache,
            api_keys=load_api_keys(args.api_keys) if args.api_keys else None,
            tenant_limits=load_tenant_limits(args.api_keys) if args.api_keys else None,
            allow_anonymous=args.allow_anonymous,
            pass_through_keys=args.pass_through_keys,
        )
    except pydantic.ValidationError as exc:
        raise ConfigurationError("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())) from exc
    settings.check_exposure()  # before a model is loaded or a store opened
    options = {
        "upstream": args.upstream,
        "model": args.model,
        "model_path": args.model_path,
        "threads": args.threads,
        "store": bounded_store_url(args),
        "audit_rate": args.audit_rate,
    }
    if args.workers > 1:
        # Each worker process builds its own cache from these options; they share the store.
        run_workers("stepcache.cli:build_cache", settings, workers=args.workers, factory_kwargs=options)
        return EXIT_OK
    run(build_cache(**options), settings, owns_cache=True)
    return EXIT_OK


def bounded_store_url(args: argparse.Namespace) -> str | None:
    """The --store URL with --max-entries, --max-bytes and --ttl in its query, where every store (and
    every --workers process) reads them; the flags replace the URL's own values."""
    if args.max_entries is None and args.max_bytes is None and args.ttl is None:
        return args.store  # type: ignore[no-any-return]
    from ..store._lifecycle import with_limits
    from ..store._url import default_store_url

    return with_limits(
        args.store or default_store_url(), max_entries=args.max_entries, max_bytes=args.max_bytes, ttl=args.ttl
    )


def _keys_new(args: argparse.Namespace) -> int:
    from ..server._auth import _TENANT, hash_key, load_api_keys, new_key

    if not _TENANT.match(args.tenant):
        raise InvalidRequest(
            f"tenant {args.tenant!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
            param="tenant",
        )
    path = Path(args.file)
    if path.exists() and path.read_text(encoding="utf-8").strip():
        load_api_keys(path)  # refuse to append to a file the proxy could not read
    key = new_key()
    with path.open("a", encoding="utf-8") as out:
        out.write(f"{args.tenant} {hash_key(key)}\n")
    print(key)
    print(f"added for tenant {args.tenant!r} to {path}; this key is shown only now", file=sys.stderr)
    return EXIT_OK


def build_cache(
    *,
    upstream: str | None,
    model: str | None,
    model_path: str | None,
    threads: int | None,
    store: str | None,
    audit_rate: float = 0.0,
) -> Any:
    """The cache ``stepcache serve`` runs (also the factory each ``--workers`` process calls)."""
    from .._engine import CacheConfig, StepCache
    from ..store import open_store

    config = CacheConfig(audit_rate=audit_rate)  # before the backend: a model may take minutes to load
    backend = backend_from_args(
        argparse.Namespace(upstream=upstream, model=model, model_path=model_path, threads=threads)
    )
    return StepCache(backend, store=open_store(store), config=config)
