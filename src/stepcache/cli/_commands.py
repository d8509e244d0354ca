"""The commands that answer one prompt and look after a store: ``run``, ``stats``, ``entries``,
``export``, ``import`` and ``purge``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigurationError, InvalidRequest
from ._options import add_backend_options, add_store_option, backend_from_args, byte_size, duration, positive_count

if TYPE_CHECKING:
    from .._types import StoreStats

__all__ = ["register"]

EXIT_OK = 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="answer one prompt through the cache and say which path it took")
    run.add_argument("prompt", help="the user message")
    run.add_argument("--system", default=None, help="an optional system message")
    run.add_argument("--json-schema", metavar="FILE", default=None, help="ask for JSON matching this JSON Schema")
    run.add_argument("--json", action="store_true", help="ask for a JSON object (response_format json_object)")
    run.add_argument("--namespace", default="default", help="cache namespace (tenant), default: %(default)s")
    add_backend_options(run)
    add_store_option(run)
    run.set_defaults(handler=_run)

    stats = sub.add_parser("stats", help="entry counts and reuse / patch / skip rates of a store")
    stats.add_argument("--namespace", default=None, help="only this namespace")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_store_option(stats)
    stats.set_defaults(handler=_stats)

    entries = sub.add_parser("entries", help="inspect a store's entries: list, show, delete")
    entries_sub = entries.add_subparsers(dest="entries_command", required=True, metavar="COMMAND")
    listing = entries_sub.add_parser("list", help="the newest entries (id, time, family, namespace, prompt)")
    listing.add_argument("--namespace", default=None, help="only this namespace")
    listing.add_argument("--family", default=None, help="only this task family")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.add_argument("--json", action="store_true", help="one JSON object per entry")
    add_store_option(listing)
    listing.set_defaults(handler=_entries)
    show = entries_sub.add_parser("show", help="one entry whole, as JSON (prompt, steps, text, task)")
    show.add_argument("id", help="the entry id ('stepcache entries list' shows them)")
    add_store_option(show)
    show.set_defaults(handler=_entries_show)
    delete = entries_sub.add_parser("delete", help="delete entries by id")
    delete.add_argument("ids", nargs="+", metavar="ID")
    add_store_option(delete)
    delete.set_defaults(handler=_entries_delete)

    export = sub.add_parser("export", help="write every entry of a store as JSON lines (to stdout or --out)")
    export.add_argument("--namespace", default=None, help="only this namespace")
    export.add_argument("--out", default=None, metavar="FILE", help="write here instead of stdout")
    add_store_option(export)
    export.set_defaults(handler=_export)
    load = sub.add_parser("import", help="add the entries of an export file to a store")
    load.add_argument("file", metavar="FILE", help="a file written by 'stepcache export'")
    add_store_option(load)
    load.set_defaults(handler=_import)

    purge = sub.add_parser(
        "purge", help="delete entries of a store by namespace, family and/or age, or evict expired and least used ones"
    )
    purge.add_argument("--namespace", default=None, help="only this namespace")
    purge.add_argument("--family", default=None, help="only this task family")
    purge.add_argument(
        "--older-than",
        type=duration,
        default=None,
        metavar="AGE",
        help="only entries stored longer ago than AGE (e.g. 30d, 12h, 90m, 3600)",
    )
    purge.add_argument("--all", action="store_true", help="with no other filter: delete every entry")
    purge.add_argument("--expired", action="store_true", help="evict the entries whose expiry (serve --ttl) has passed")
    purge.add_argument(
        "--max-entries",
        type=positive_count,
        default=None,
        metavar="N",
        help="evict expired entries, then the least recently used until at most N remain",
    )
    purge.add_argument(
        "--max-bytes",
        type=byte_size,
        default=None,
        metavar="SIZE",
        help="evict expired entries, then the least recently used until at most SIZE (e.g. 500M) "
        "of stored answers remain",
    )
    add_store_option(purge)
    purge.set_defaults(handler=_purge)


def _run(args: argparse.Namespace) -> int:
    from .._engine import StepCache
    from ..store import open_store

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
    with StepCache(backend_from_args(args), store=store) as cache:
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


def _lifecycle(store: Any) -> Any:
    from ..store import LifecycleStore

    if not isinstance(store, LifecycleStore):
        raise ConfigurationError(f"{type(store).__name__} cannot list or delete entries")
    return store


def _entries(args: argparse.Namespace) -> int:
    from datetime import datetime

    from ..store import open_store

    with open_store(args.store) as store:
        found = _lifecycle(store).entries(namespace=args.namespace, family=args.family, limit=args.limit)
    for e in found:
        when = datetime.fromtimestamp(e.created_at, tz=UTC).isoformat(timespec="seconds")
        if args.json:
            print(
                json.dumps(
                    {
                        "id": e.id,
                        "namespace": e.scope.namespace,
                        "model": e.scope.model,
                        "family": e.scope.family,
                        "created_at": when,
                        "prompt": e.prompt,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            prompt = " ".join(e.prompt.split())
            print(f"{e.id:>8}  {when}  {e.scope.family:<10} {e.scope.namespace[:24]:<24} {prompt[:60]}")
    return EXIT_OK


def _entry_json(e: Any) -> dict[str, Any]:
    return {
        "id": e.id,
        "key": e.key,
        "namespace": e.scope.namespace,
        "model": e.scope.model,
        "family": e.scope.family,
        "signature": e.signature,
        "prompt": e.prompt,
        "task": e.task,
        "steps": list(e.steps),
        "text": e.text,
        "embedding": [float(x) for x in e.embedding],
        "prepared": e.prepared,
        "format_version": e.format_version,
        "created_at": e.created_at,
        "cost": [e.cost.prompt, e.cost.completion],
        "expires_at": e.expires_at,
        "embedder": e.embedder,
    }


def _entries_show(args: argparse.Namespace) -> int:
    from ..store import open_store

    with open_store(args.store) as store:
        found = _lifecycle(store).entries(ids=[args.id], limit=1)
    if not found:
        raise InvalidRequest(f"no entry {args.id!r} in this store; 'stepcache entries list' shows the ids", param="id")
    shown = _entry_json(found[0])
    shown.pop("embedding")
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    return EXIT_OK


def _entries_delete(args: argparse.Namespace) -> int:
    from ..store import open_store

    with open_store(args.store) as store:
        deleted = _lifecycle(store).purge(ids=args.ids)
    print(f"deleted {deleted} of {len(args.ids)}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from ..store import open_store

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

    from .._types import Entry, Scope, TokenUsage
    from ..store import open_store

    added = 0
    with open_store(args.store) as store, open(args.file, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                entry = Entry(
                    key=d["key"],
                    scope=Scope(d["namespace"], d["model"], d["family"]),
                    signature=d["signature"],
                    prompt=d["prompt"],
                    task=d["task"],
                    steps=tuple(d["steps"]),
                    text=d["text"],
                    embedding=np.asarray(d["embedding"], dtype=np.float32),
                    prepared=d["prepared"],
                    format_version=d["format_version"],
                    created_at=d["created_at"],
                    cost=TokenUsage(*d["cost"]),
                    expires_at=d.get("expires_at"),  # absent in exports from before expiry was kept
                    embedder=d.get("embedder", ""),  # absent before embedders were recorded: the store names it
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidRequest(
                    f"{args.file}:{number}: not an exported entry ({exc}); use 'stepcache export'"
                ) from exc
            added += store.put(entry).key == entry.key
    print(f"imported {added} entr{'y' if added == 1 else 'ies'}")
    return EXIT_OK


def _purge(args: argparse.Namespace) -> int:
    from ..store import open_store

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
    from ..store import open_store

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
    from .._types import AuditOutcome

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
