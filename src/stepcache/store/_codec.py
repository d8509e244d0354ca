"""How an :class:`~stepcache.Entry` is written to and read from a database row.

``task`` and ``prepared`` are JSON, ``steps`` a JSON array, the embedding little-endian float32
bytes (the same on every machine). The in-memory store round-trips through the same JSON so that a
family whose task does not survive storage (a tuple that comes back a list, a set that cannot be
stored at all) fails in the tests that use the fake, not in production on SQLite.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .._exceptions import StoreError
from .._types import Entry, Scope, StoreStats, TokenUsage, Vector

__all__ = [
    "COLUMNS",
    "dump_json",
    "load_json",
    "encode_vector",
    "decode_vector",
    "entry_values",
    "row_to_entry",
    "stats_from_rows",
    "payload_size",
    "values_size",
]

#: Columns of ``entries`` in the order :func:`entry_values` and :func:`row_to_entry` use.
COLUMNS = (
    "id",
    "key",
    "namespace",
    "model",
    "family",
    "signature",
    "prompt",
    "task",
    "steps",
    "text",
    "embedding",
    "prepared",
    "format_version",
    "created_at",
    "cost_prompt_tokens",
    "cost_completion_tokens",
    "expires_at",
    "embedder",
)

_VECTOR_DTYPE = np.dtype("<f4")


def dump_json(value: Any, what: str, key: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"cannot store entry {key[:16]}…: its {what} is not JSON-serialisable ({exc}). "
            "A family's task and prepared data must be plain JSON (dict, list, str, number, bool, None)."
        ) from exc


def load_json(text: str) -> Any:
    return json.loads(text)


def encode_vector(vector: Vector) -> bytes:
    return np.ascontiguousarray(vector, dtype=_VECTOR_DTYPE).reshape(-1).tobytes()


def decode_vector(blob: bytes) -> Vector:
    # frombuffer over immutable bytes is read-only, which suits a frozen Entry.
    return np.frombuffer(blob, dtype=_VECTOR_DTYPE).astype(np.float32, copy=False)


def entry_values(entry: Entry, created_at: float, expires_at: float | None, embedder: str) -> tuple[Any, ...]:
    """Values for every column but ``id``, in :data:`COLUMNS` order."""
    return (
        entry.key,
        entry.scope.namespace,
        entry.scope.model,
        entry.scope.family,
        entry.signature,
        entry.prompt,
        dump_json(entry.task, "task", entry.key),
        dump_json(list(entry.steps), "steps", entry.key),
        entry.text,
        encode_vector(entry.embedding),
        dump_json(entry.prepared, "prepared data", entry.key),
        entry.format_version,
        created_at,
        entry.cost.prompt,
        entry.cost.completion,
        expires_at,
        embedder,
    )


def payload_size(*parts: str | bytes) -> int:
    """Bytes of an entry's stored payload (prompt, task, steps, text and prepared data as JSON text,
    embedding as float32): what ``max_bytes`` caps, measured the same way by every store."""
    return sum(len(p.encode()) if isinstance(p, str) else len(p) for p in parts)


#: The columns whose bytes :func:`values_size` adds up.
PAYLOAD_COLUMNS = ("prompt", "task", "steps", "text", "prepared", "embedding")


def values_size(values: Sequence[Any]) -> int:
    """:func:`payload_size` of an entry from its :func:`entry_values`."""
    named = dict(zip(COLUMNS[1:], values))
    return payload_size(*(named[column] for column in PAYLOAD_COLUMNS))


def row_to_entry(row: tuple[Any, ...] | Any, *, decoded: bool = False) -> Entry:
    """The entry in a row of :data:`COLUMNS` (names aside: only the order matters).

    ``decoded=True`` for a driver that has already turned the JSON columns into values, the steps
    into a list and the embedding into an array (psycopg with pgvector's loaders); otherwise they are
    JSON text and float32 bytes, as :func:`entry_values` wrote them.
    """
    (
        row_id,
        key,
        namespace,
        model,
        family,
        signature,
        prompt,
        task,
        steps,
        text,
        embedding,
        prepared,
        format_version,
        created_at,
        cost_prompt,
        cost_completion,
        expires_at,
        embedder,
    ) = row
    if not decoded:
        task, steps, prepared = load_json(task), load_json(steps), load_json(prepared)
        embedding = decode_vector(bytes(embedding))
    return Entry(
        key=key,
        scope=Scope(namespace, model, family),
        signature=signature,
        prompt=prompt,
        task=task,
        steps=tuple(steps),
        text=text,
        embedding=embedding,
        prepared=prepared,
        format_version=int(format_version),
        id=str(row_id),
        created_at=float(created_at),
        cost=TokenUsage(int(cost_prompt), int(cost_completion)),
        expires_at=None if expires_at is None else float(expires_at),
        embedder=embedder,
    )


def stats_from_rows(
    families: Iterable[tuple[Any, Any]],
    paths: Iterable[tuple[Any, Any, Any, Any]],
    audits: Iterable[tuple[Any, Any, Any, Any, Any]] = (),
    quarantined: Iterable[tuple[Any, Any]] = (),
    evicted: Any = 0,
) -> StoreStats:
    """:class:`StoreStats` from ``(family, entries)`` rows, ``(path, requests, tokens spent, tokens
    saved)`` rows, ``(family, outcome, audits, prompt tokens, completion tokens)`` rows,
    ``(family, quarantined entries)`` rows and the evicted total: what every store's ``stats`` reports."""
    by_family = {str(family): int(n) for family, n in families if int(n)}
    by_path = [(str(path), int(requests), int(spent), int(saved)) for path, requests, spent, saved in paths]
    by_outcome: dict[str, dict[str, int]] = {}
    audit_tokens = TokenUsage()
    for family, outcome, n, prompt, completion in audits:
        outcomes = by_outcome.setdefault(str(family), {})
        outcomes[str(outcome)] = outcomes.get(str(outcome), 0) + int(n)
        audit_tokens = audit_tokens + TokenUsage(int(prompt), int(completion))
    return StoreStats(
        entries=sum(by_family.values()),
        entries_by_family=by_family,
        paths={path: requests for path, requests, _, _ in by_path},
        tokens_spent=sum(spent for _, _, spent, _ in by_path),
        tokens_saved=sum(saved for _, _, _, saved in by_path),
        audits=by_outcome,
        audit_tokens=audit_tokens,
        quarantined_by_family={str(family): int(n) for family, n in quarantined if int(n)},
        evicted=int(evicted or 0),
    )


def entry_filters(
    mark: str,
    namespace: str | None,
    family: str | None,
    older_than: float | None,
    ids: Sequence[str] | None = None,
) -> tuple[str, list[Any]]:
    """The WHERE clause and arguments selecting entries for the lifecycle commands, with ``mark``
    the driver's placeholder (``?`` for SQLite, ``%s`` for psycopg)."""
    clauses: list[str] = ["1 = 1"]
    args: list[Any] = []
    if namespace is not None:
        clauses.append(f"namespace = {mark}")
        args.append(namespace)
    if family is not None:
        clauses.append(f"family = {mark}")
        args.append(family)
    if older_than is not None:
        clauses.append(f"created_at < {mark}")
        args.append(time.time() - older_than)
    if ids is not None:
        numbers = [int(i) for i in ids if str(i).isdigit()]
        clauses.append(f"id IN ({', '.join([mark] * len(numbers))})" if numbers else "1 = 0")
        args.extend(numbers)
    return " AND ".join(clauses), args
