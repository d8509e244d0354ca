"""The ``stepcache`` command line. Errors become exit codes here and only here."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._exceptions import (
    ConfigurationError,
    InvalidRequest,
    StepCacheError,
)

if TYPE_CHECKING:
    from ._types import StoreStats

__all__ = ["main"]

#: Success and a command line that could not be parsed; errors exit with their own ``exit_code``.
EXIT_OK, EXIT_USAGE = 0, 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv[:1] in (["demo"], ["bench"]):
        # These own their options (argparse.REMAINDER would swallow only positional ones).
        argv = [argv[0], "--", *argv[1:]]
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.handler(args)
        return code
    except StepCacheError as exc:
        return _fail(exc, exc.exit_code)
    except KeyboardInterrupt:
        return 130


def _fail(exc: Exception, code: int) -> int:
    print(f"stepcache: error: {exc}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepcache",
        description="Step-level reuse for LLM serving: adapt, verify and patch cached answers.",
    )
    sub = parser.add_subparsers(title="commands")

    run = sub.add_parser("run", help="answer one prompt through the cache and say which path it took")
    run.add_argument("prompt", help="the user message")
    run.add_argument("--system", default=None, help="an optional system message")
    run.add_argument("--json-schema", metavar="FILE", default=None, help="ask for JSON matching this JSON Schema")
    run.add_argument("--json", action="store_true", help="ask for a JSON object (response_format json_object)")
    run.add_argument("--namespace", default="default", help="cache namespace (tenant), default: %(default)s")
    _add_backend_args(run)
    _add_store_arg(run)
    run.set_defaults(handler=_run)

    stats = sub.add_parser("stats", help="entry counts and reuse / patch / skip rates of a store")
    stats.add_argument("--namespace", default=None, help="only this namespace")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_store_arg(stats)
    stats.set_defaults(handler=_stats)

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
        default=os.environ.get("STEPCACHE_AUDIT_RATE", "0"),
        metavar="R",
        help="share (0..1) of reused or patched answers asked again upstream in the background and compared, "
        "to measure the wrong-reuse rate; a wrong entry is quarantined. Costs about R x the reused "
        "requests' tokens (env STEPCACHE_AUDIT_RATE, default 0: off)",
    )
    serve.add_argument(
        "--api-keys",
        default=os.environ.get("STEPCACHE_API_KEYS"),
        metavar="FILE",
        help="answer only the keys listed in FILE, each in its tenant's namespace; others get 401 "
        "(lines 'TENANT SHA256'; make them with 'stepcache keys new'; env STEPCACHE_API_KEYS)",
    )
    serve.add_argument(
        "--pass-through-keys",
        action="store_true",
        default=os.environ.get("STEPCACHE_PASS_THROUGH_KEYS", "") not in ("", "0", "false", "no"),
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
        type=_positive_count,
        default=os.environ.get("STEPCACHE_MAX_ENTRIES"),
        metavar="N",
        help="size cap: past N entries the least recently used are evicted, down to 90%% of N "
        "(env STEPCACHE_MAX_ENTRIES; default: unbounded)",
    )
    serve.add_argument(
        "--max-bytes",
        type=_byte_size,
        default=os.environ.get("STEPCACHE_MAX_BYTES"),
        metavar="SIZE",
        help="size cap on stored answers (prompt, steps, text, task, embedding), e.g. 500M or 2G; evicts "
        "like --max-entries (env STEPCACHE_MAX_BYTES; default: unbounded)",
    )
    serve.add_argument(
        "--ttl",
        type=_ttl,
        default=os.environ.get("STEPCACHE_TTL"),
        metavar="AGE",
        help="serve an entry for AGE after it is stored (e.g. 7d, 12h, 3600), then delete it "
        "(env STEPCACHE_TTL; default: until evicted or purged)",
    )
    _add_backend_args(serve)
    _add_store_arg(serve)
    serve.set_defaults(handler=_serve)

    entries = sub.add_parser("entries", help="inspect a store's entries: list, show, delete")
    entries_sub = entries.add_subparsers(dest="entries_command", required=True, metavar="COMMAND")
    listing = entries_sub.add_parser("list", help="the newest entries (id, time, family, namespace, prompt)")
    listing.add_argument("--namespace", default=None, help="only this namespace")
    listing.add_argument("--family", default=None, help="only this task family")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.add_argument("--json", action="store_true", help="one JSON object per entry")
    _add_store_arg(listing)
    listing.set_defaults(handler=_entries)
    show = entries_sub.add_parser("show", help="one entry whole, as JSON (prompt, steps, text, task)")
    show.add_argument("id", help="the entry id ('stepcache entries list' shows them)")
    _add_store_arg(show)
    show.set_defaults(handler=_entries_show)
    delete = entries_sub.add_parser("delete", help="delete entries by id")
    delete.add_argument("ids", nargs="+", metavar="ID")
    _add_store_arg(delete)
    delete.set_defaults(handler=_entries_delete)

    export = sub.add_parser("export", help="write every entry of a store as JSON lines (to stdout or --out)")
    export.add_argument("--namespace", default=None, help="only this namespace")
    export.add_argument("--out", default=None, metavar="FILE", help="write here instead of stdout")
    _add_store_arg(export)
    export.set_defaults(handler=_export)
    load = sub.add_parser("import", help="add the entries of an export file to a store")
    load.add_argument("file", metavar="FILE", help="a file written by 'stepcache export'")
    _add_store_arg(load)
    load.set_defaults(handler=_import)

    purge = sub.add_parser(
        "purge", help="delete entries of a store by namespace, family and/or age, or evict expired and least used ones"
    )
    purge.add_argument("--namespace", default=None, help="only this namespace")
    purge.add_argument("--family", default=None, help="only this task family")
    purge.add_argument("--older-than", type=_duration, default=None, metavar="AGE",
                       help="only entries stored longer ago than AGE (e.g. 30d, 12h, 90m, 3600)")
    purge.add_argument("--all", action="store_true", help="with no other filter: delete every entry")
    purge.add_argument("--expired", action="store_true",
                       help="evict the entries whose expiry (serve --ttl) has passed")
    purge.add_argument("--max-entries", type=_positive_count, default=None, metavar="N",
                       help="evict expired entries, then the least recently used until at most N remain")
    purge.add_argument("--max-bytes", type=_byte_size, default=None, metavar="SIZE",
                       help="evict expired entries, then the least recently used until at most SIZE (e.g. 500M) "
                       "of stored answers remain")
    _add_store_arg(purge)
    purge.set_defaults(handler=_purge)

    keys = sub.add_parser("keys", help="client API keys for 'stepcache serve --api-keys'")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    new_key = keys_sub.add_parser("new", help="make a key for a tenant: print it once, append its hash to FILE")
    new_key.add_argument("tenant", help="tenant name (letters, digits, '_', '.', '-'): the key's cache namespace")
    new_key.add_argument("--file", required=True, metavar="FILE", help="the API-keys file to append to")
    new_key.set_defaults(handler=_keys_new)

    demo = sub.add_parser("demo", help="the README's main job: StepCache vs the bare model on a small workload")
    demo.add_argument("args", nargs=argparse.REMAINDER, help="options for the demo (see `stepcache demo --help`)")
    demo.set_defaults(handler=_demo)

    bench = sub.add_parser(
        "bench", help="the paper's protocol: StepCache vs no cache, exact-match and GPTCache ('bench ttft': streaming)"
    )
    bench.add_argument("args", nargs=argparse.REMAINDER, help="options for the benchmark (see `stepcache bench --help`)")
    bench.set_defaults(handler=_bench)
    return parser


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--upstream",
        default=os.environ.get("STEPCACHE_UPSTREAM"),
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (env STEPCACHE_UPSTREAM); "
        "default: the embedded local model",
    )
    p.add_argument(
        "--upstream-model",
        "--model",
        dest="model",
        default=os.environ.get("STEPCACHE_UPSTREAM_MODEL"),
        help="model name sent upstream (env STEPCACHE_UPSTREAM_MODEL)",
    )
    p.add_argument("--model-path", default=None, help="a GGUF file for the embedded model (default: the bundled one)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the embedded model (default: all)")


def _add_store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        default=os.environ.get("STEPCACHE_STORE"),
        help="sqlite:///path/cache.db (default: under the user cache dir), memory:// or postgresql://... "
        "(env STEPCACHE_STORE)",
    )


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


def build_backend(args: argparse.Namespace) -> Any:
    """The upstream named on the command line, or the embedded model when none is."""
    from .backends._open import open_backend

    return open_backend(
        args.upstream,
        model=args.model,
        api_key=os.environ.get("STEPCACHE_UPSTREAM_API_KEY"),
        model_path=args.model_path,
        threads=args.threads,
    )


def _run(args: argparse.Namespace) -> int:
    from ._engine import StepCache
    from .store import open_store

    messages = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    request: dict[str, Any] = {"messages": messages, "namespace": args.namespace}
    if args.model:
        request["model"] = args.model
    if args.json_schema:
        request["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": _read_json(args.json_schema), "strict": True},
        }
    elif args.json:
        request["response_format"] = {"type": "json_object"}
    store = open_store(args.store)
    with StepCache(build_backend(args), store=store) as cache:
        result = cache.complete(request)
    print(result.text)
    meta = result.metadata()
    print(
        f"[stepcache] path={meta['path']} family={meta['family']} entry={meta['entry']} "
        f"similarity={meta['similarity']} steps={meta['steps']} upstream_tokens={meta['upstream_tokens']} "
        f"fallback={meta['fallback']}",
        file=sys.stderr,
    )
    return EXIT_OK


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise InvalidRequest(f"cannot read the JSON Schema file {path!r}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from exc


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    value, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = float(value) * units[unit]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write 30d, 12h, 90m or seconds") from exc
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: an age cannot be negative")
    return seconds


def _positive_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a whole number of entries, 1 or more, e.g. 100000 (serve also reads STEPCACHE_MAX_ENTRIES)"
        )
    return count


def _byte_size(text: str) -> int:
    from .store._lifecycle import parse_bytes

    try:
        size = parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (serve also reads STEPCACHE_MAX_BYTES)") from exc
    if size < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a size cap must be more than 0 bytes, e.g. 500M")
    return size


def _ttl(text: str) -> float:
    try:
        seconds = _duration(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (serve also reads STEPCACHE_TTL)") from exc
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: an expiry must be longer than 0 (e.g. 7d, 12h)")
    return seconds


def _lifecycle(store: Any) -> Any:
    from .store import LifecycleStore

    if not isinstance(store, LifecycleStore):
        raise ConfigurationError(f"{type(store).__name__} cannot list or delete entries")
    return store


def _entries(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from .store import open_store

    with open_store(args.store) as store:
        found = _lifecycle(store).entries(namespace=args.namespace, family=args.family, limit=args.limit)
    for e in found:
        when = datetime.fromtimestamp(e.created_at, tz=timezone.utc).isoformat(timespec="seconds")
        if args.json:
            print(json.dumps({"id": e.id, "namespace": e.scope.namespace, "model": e.scope.model,
                              "family": e.scope.family, "created_at": when, "prompt": e.prompt}, ensure_ascii=False))
        else:
            prompt = " ".join(e.prompt.split())
            print(f"{e.id:>8}  {when}  {e.scope.family:<10} {e.scope.namespace[:24]:<24} {prompt[:60]}")
    return EXIT_OK


def _entry_json(e: Any) -> dict[str, Any]:
    return {
        "id": e.id, "key": e.key, "namespace": e.scope.namespace, "model": e.scope.model, "family": e.scope.family,
        "signature": e.signature, "prompt": e.prompt, "task": e.task, "steps": list(e.steps), "text": e.text,
        "embedding": [float(x) for x in e.embedding], "prepared": e.prepared, "format_version": e.format_version,
        "created_at": e.created_at, "cost": [e.cost.prompt, e.cost.completion], "expires_at": e.expires_at,
    }


def _entries_show(args: argparse.Namespace) -> int:
    from .store import open_store

    with open_store(args.store) as store:
        found = _lifecycle(store).entries(ids=[args.id], limit=1)
    if not found:
        raise InvalidRequest(f"no entry {args.id!r} in this store; 'stepcache entries list' shows the ids", param="id")
    shown = _entry_json(found[0])
    shown.pop("embedding")
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    return EXIT_OK


def _entries_delete(args: argparse.Namespace) -> int:
    from .store import open_store

    with open_store(args.store) as store:
        deleted = _lifecycle(store).purge(ids=args.ids)
    print(f"deleted {deleted} of {len(args.ids)}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from .store import open_store

    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        with open_store(args.store) as store:
            for e in _lifecycle(store).entries(namespace=args.namespace, limit=10**9):
                out.write(json.dumps(_entry_json(e), ensure_ascii=False) + "\n")
    finally:
        if args.out:
            out.close()
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    import numpy as np

    from ._types import Entry, Scope, TokenUsage
    from .store import open_store

    added = 0
    with open_store(args.store) as store, open(args.file, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                entry = Entry(
                    key=d["key"], scope=Scope(d["namespace"], d["model"], d["family"]), signature=d["signature"],
                    prompt=d["prompt"], task=d["task"], steps=tuple(d["steps"]), text=d["text"],
                    embedding=np.asarray(d["embedding"], dtype=np.float32), prepared=d["prepared"],
                    format_version=d["format_version"], created_at=d["created_at"], cost=TokenUsage(*d["cost"]),
                    expires_at=d.get("expires_at"),  # absent in exports from before expiry was kept
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidRequest(f"{args.file}:{number}: not an exported entry ({exc}); use 'stepcache export'") from exc
            added += store.put(entry).key == entry.key
    print(f"imported {added} entr{'y' if added == 1 else 'ies'}")
    return EXIT_OK


def _purge(args: argparse.Namespace) -> int:
    from .store import open_store

    filtered = args.namespace is not None or args.family is not None or args.older_than is not None or args.all
    evicting = args.expired or args.max_entries is not None or args.max_bytes is not None
    if filtered and evicting:
        raise InvalidRequest(
            "--expired, --max-entries and --max-bytes evict from the whole store: run them without "
            "--namespace, --family, --older-than and --all",
            param="expired",
        )
    if not filtered and not evicting:
        raise InvalidRequest(
            "purge needs --namespace, --family or --older-than (or --all to delete every entry), or --expired, "
            "--max-entries or --max-bytes to evict",
            param="all",
        )
    with open_store(args.store) as store:
        if evicting:
            evicted = _lifecycle(store).evict(max_entries=args.max_entries, max_bytes=args.max_bytes)
            print(f"evicted {evicted} entr{'y' if evicted == 1 else 'ies'}")
            return EXIT_OK
        deleted = _lifecycle(store).purge(namespace=args.namespace, family=args.family, older_than=args.older_than)
    print(f"deleted {deleted} entr{'y' if deleted == 1 else 'ies'}")
    return EXIT_OK


def _stats(args: argparse.Namespace) -> int:
    from .store import open_store

    with open_store(args.store) as store:
        stats = store.stats(args.namespace)
    served = sum(stats.paths.values())
    if args.json:
        print(
            json.dumps(
                {
                    "entries": stats.entries,
                    "entries_by_family": stats.entries_by_family,
                    "requests": served,
                    "paths": stats.paths,
                    "tokens_spent": stats.tokens_spent,
                    "tokens_saved": stats.tokens_saved,
                    "audits": stats.audits,
                    "disagreement_rate": stats.disagreement_rate(),
                    "audit_tokens_spent": stats.audit_tokens.total,
                    "quarantined": stats.quarantined,
                    "quarantined_by_family": stats.quarantined_by_family,
                    "evicted": stats.evicted,
                },
                indent=2,
            )
        )
        return EXIT_OK
    print(f"entries: {stats.entries}")
    for family, count in sorted(stats.entries_by_family.items()):
        print(f"  {family:<10} {count}")
    print(f"evicted entries (size cap or expiry): {stats.evicted}")
    print(f"requests served: {served}")
    for path in ("reuse", "patch", "skip", "miss", "bypass"):
        count = stats.paths.get(path, 0)
        rate = f"{100.0 * count / served:5.1f}%" if served else "    -"
        print(f"  {path:<10} {count:>8}  {rate}")
    print(f"upstream tokens spent: {stats.tokens_spent}")
    print(f"upstream tokens saved: {stats.tokens_saved}")
    if stats.audits or stats.quarantined:
        _print_audits(stats)
    return EXIT_OK


def _print_audits(stats: StoreStats) -> None:
    """The audit table: disagreement = disagree / (agree + disagree), the measured wrong-reuse rate."""
    from ._types import AuditOutcome

    outcomes = [o.value for o in AuditOutcome]
    print("audits (reused answers asked again upstream):")
    print(f"  {'family':<10} " + " ".join(f"{o:>12}" for o in outcomes) + f" {'disagreement':>13}")
    for family in sorted(stats.audits):
        counts = stats.audits[family]
        rate = stats.disagreement_rate(family)
        shown = "-" if rate is None else f"{100.0 * rate:.1f}%"
        print(f"  {family:<10} " + " ".join(f"{counts.get(o, 0):>12}" for o in outcomes) + f" {shown:>13}")
    print(f"upstream tokens spent on audits: {stats.audit_tokens.total}")
    print(f"quarantined entries: {stats.quarantined}")
    for family, count in sorted(stats.quarantined_by_family.items()):
        print(f"  {family:<10} {count}")


def _serve(args: argparse.Namespace) -> int:
    from .server import ServerSettings, run, run_workers
    import pydantic

    from .server._auth import load_api_keys, load_tenant_limits

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
        "store": _bounded_store_url(args),
        "audit_rate": args.audit_rate,
    }
    if args.workers > 1:
        # Each worker process builds its own cache from these options; they share the store.
        run_workers("stepcache.cli:build_cache", settings, workers=args.workers, factory_kwargs=options)
        return EXIT_OK
    run(build_cache(**options), settings, owns_cache=True)
    return EXIT_OK


def _bounded_store_url(args: argparse.Namespace) -> str | None:
    """The --store URL with --max-entries, --max-bytes and --ttl in its query, where every store (and
    every --workers process) reads them; the flags replace the URL's own values."""
    if args.max_entries is None and args.max_bytes is None and args.ttl is None:
        return args.store  # type: ignore[no-any-return]
    from .store._lifecycle import with_limits
    from .store._url import default_store_url

    return with_limits(
        args.store or default_store_url(), max_entries=args.max_entries, max_bytes=args.max_bytes, ttl=args.ttl
    )


def _keys_new(args: argparse.Namespace) -> int:
    from .server._auth import _TENANT, hash_key, load_api_keys, new_key

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
    from ._engine import CacheConfig, StepCache
    from .store import open_store

    config = CacheConfig(audit_rate=audit_rate)  # before the backend: a model may take minutes to load
    backend = build_backend(
        argparse.Namespace(upstream=upstream, model=model, model_path=model_path, threads=threads)
    )
    return StepCache(backend, store=open_store(store), config=config)


def _demo(args: argparse.Namespace) -> int:
    from stepcache_bench.demo import main as demo_main

    return demo_main(_rest(args))


def _bench(args: argparse.Namespace) -> int:
    rest = _rest(args)
    if rest[:1] == ["ttft"]:  # stepcache bench ttft [...]: time to first token, direct vs through the proxy
        from stepcache_bench.ttft import main as ttft_main

        return ttft_main(rest[1:])
    from stepcache_bench.bench import main as bench_main

    return bench_main(rest)


def _rest(args: argparse.Namespace) -> list[str]:
    rest = list(args.args)
    return rest[1:] if rest[:1] == ["--"] else rest


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
