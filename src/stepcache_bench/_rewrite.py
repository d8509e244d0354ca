"""The machinery of :mod:`stepcache_bench.metamorphic`: what a wrapper and a mutation are, their
registries, and the few things every rewrite needs to read or change in a request (its last user
turn, its system message, the equations and the key list written in it).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .workload import EvaluationTruth, JsonTruth, LinearTruth, QuadraticTruth, SystemTruth, WorkloadItem

__all__ = [
    "MATH_KINDS",
    "ANY_KIND",
    "Rewrite",
    "Wrapper",
    "Mutation",
    "WRAPPERS",
    "MUTATIONS",
    "kind_of",
    "wrapper",
    "mutation",
    "validated",
    "task_index",
    "task_of",
    "with_task",
    "with_messages",
    "with_system",
    "split_sentences",
    "math_spans",
    "KeyList",
    "key_list",
    "json_type",
    "key_types",
    "schema_format",
]

#: Truth kinds of maths questions; ``none`` is an item without ground truth.
MATH_KINDS = frozenset({"linear", "quadratic", "evaluation", "system"})
ANY_KIND = MATH_KINDS | {"json", "prose", "none"}

Rewrite = Callable[[WorkloadItem, random.Random], WorkloadItem | None]


def kind_of(item: WorkloadItem) -> str:
    """The item's truth kind (``linear``, ``json``, ...), ``none`` without a truth."""
    return item.truth.kind if item.truth is not None else "none"


@dataclass(frozen=True)
class _Rewriter:
    """What wrappers and mutations share: which items they apply to, and the rewrite itself."""

    name: str
    kinds: frozenset[str]
    rewrite: Rewrite
    doc: str

    def applies(self, item: WorkloadItem) -> bool:
        # Feasibility never depends on the rng (it only picks among feasible variants).
        return self._rewritten(item, random.Random(0)) is not None

    def _rewritten(self, item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
        return self.rewrite(item, rng) if kind_of(item) in self.kinds else None


@dataclass(frozen=True)
class Wrapper(_Rewriter):
    """A meaning-preserving rewrite. ``wrapper(item, rng)`` → the wrapped item, or ``None`` when it
    cannot apply to this item (wrong kind, or nothing it rewrites is there)."""

    group: str

    def __call__(self, item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
        new = self._rewritten(item, rng)
        if new is None:
            return None
        chained = item.perturbation.startswith("wrap:")
        return validated(
            new,
            {
                "id": f"{item.id}~{self.name}",
                "perturbation": f"{item.perturbation}+{self.name}" if chained else f"wrap:{self.name}",
                "base_id": item.base_id if chained else item.id,
                "semantic": False,
            },
        )


@dataclass(frozen=True)
class Mutation(_Rewriter):
    """A meaning-changing rewrite. ``mutation(item, rng)`` → the mutated item, or ``None``.

    ``adaptable``: only constants changed, so a verified adaptation of the original's entry is a
    right way to answer it (the original's answer, unchanged, is not).
    """

    adaptable: bool

    def __call__(self, item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
        new = self._rewritten(item, rng)
        if new is None:
            return None
        return validated(
            new,
            {
                "id": f"{item.id}~{self.name}",
                "perturbation": f"mutate:{self.name}",
                "base_id": item.id,
                "semantic": True,
            },
        )


def validated(item: WorkloadItem, update: dict[str, Any]) -> WorkloadItem:
    """``item`` with ``update``, validated as a loaded item would be (model_copy does not validate)."""
    return WorkloadItem.model_validate({**item.model_dump(), **update})


#: Wrappers by name, in the order a chain applies them (innermost text first, message-level last).
WRAPPERS: dict[str, Wrapper] = {}
MUTATIONS: dict[str, Mutation] = {}


def wrapper(name: str, kinds: Iterable[str], group: str) -> Callable[[Rewrite], Wrapper]:
    """Decorator: register ``fn`` (item, rng → rewritten item or ``None``) as the wrapper ``name``."""

    def register(fn: Rewrite) -> Wrapper:
        made = Wrapper(name=name, kinds=frozenset(kinds), rewrite=fn, doc=(fn.__doc__ or "").strip(), group=group)
        WRAPPERS[name] = made
        return made

    return register


def mutation(name: str, kinds: Iterable[str], adaptable: bool) -> Callable[[Rewrite], Mutation]:
    """Decorator: register ``fn`` as the mutation ``name``."""

    def register(fn: Rewrite) -> Mutation:
        made = Mutation(
            name=name, kinds=frozenset(kinds), rewrite=fn, doc=(fn.__doc__ or "").strip(), adaptable=adaptable
        )
        MUTATIONS[name] = made
        return made

    return register


# -- the request's text ------------------------------------------------------------------------------


def task_index(item: WorkloadItem) -> int:
    return max(i for i, m in enumerate(item.request.messages) if m.get("role") == "user")


def task_of(item: WorkloadItem) -> str:
    """The question itself: the last user turn."""
    return item.request.messages[task_index(item)].get("content", "")


def with_task(item: WorkloadItem, text: str, **update: Any) -> WorkloadItem:
    messages = list(item.request.messages)
    index = task_index(item)
    messages[index] = {**messages[index], "content": text}
    return with_messages(item, messages, **update)


def with_messages(item: WorkloadItem, messages: Sequence[dict[str, str]], **update: Any) -> WorkloadItem:
    body_update: dict[str, Any] = {"messages": tuple(messages)}
    if "response_format" in update:
        body_update["response_format"] = update.pop("response_format")
    return item.model_copy(update={"request": item.request.model_copy(update=body_update), **update})


def with_system(item: WorkloadItem, text: str, **update: Any) -> WorkloadItem:
    """``text`` as (or appended to) the caller's system message."""
    messages = list(item.request.messages)
    if messages and messages[0].get("role") == "system":
        messages[0] = {**messages[0], "content": f"{messages[0].get('content', '').rstrip()}\n\n{text}"}
    else:
        messages.insert(0, {"role": "system", "content": text})
    return with_messages(item, messages, **update)


SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z\"'`*(\[])")


def split_sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def math_spans(item: WorkloadItem) -> list[str]:
    """The equations / expressions of a maths item, as they are written in its question."""
    truth, task = item.truth, task_of(item)
    spans: list[str] = []
    if isinstance(truth, (LinearTruth, QuadraticTruth)):
        spans = [truth.equation]
    elif isinstance(truth, EvaluationTruth):
        spans = [truth.expression]
    elif isinstance(truth, SystemTruth):
        spans = list(truth.equations)
    return [s for s in spans if s and s in task]


@dataclass(frozen=True)
class KeyList:
    """Where a request lists its keys: the sentence ``[start, end)``, the list itself
    ``[list_start, list_end)`` and the words before it (``"Required keys:"``)."""

    start: int
    end: int
    list_start: int
    list_end: int
    lead: str


def key_list(text: str, keys: Sequence[str]) -> KeyList | None:
    """Where ``text`` lists ``keys`` (in order, comma-separated); ``None`` when it does not."""
    if len(keys) < 2:
        return None
    quote = "[`'\"]?"
    separator = r"\s*(?:,\s*(?:and\s+)?|\s+and\s+)"
    listed = separator.join(quote + re.escape(k) + quote for k in keys)
    match = re.search(rf"(?<![\w-]){listed}(?![\w-])", text)
    if match is None:
        return None
    starts = [m.end() for m in re.finditer(r"[.?!]\s+|\n", text[: match.start()])]
    start = starts[-1] if starts else 0
    end = match.end() + (1 if text[match.end() : match.end() + 1] == "." else 0)
    return KeyList(start, end, match.start(), match.end(), text[start : match.start()].strip())


def json_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def key_types(item: WorkloadItem, truth: JsonTruth) -> dict[str, str | None]:
    """Each required key's JSON type: from the expected value, else from the request's schema."""
    schema_props: dict[str, Any] = {}
    rf = item.request.response_format or {}
    if rf.get("type") == "json_schema":
        schema_props = rf.get("json_schema", {}).get("schema", {}).get("properties", {}) or {}
    types: dict[str, str | None] = {}
    for key in truth.required_keys:
        declared = schema_props.get(key, {}).get("type") if isinstance(schema_props.get(key), dict) else None
        types[key] = json_type(truth.expected[key]) if key in truth.expected else declared
    return types


def schema_format(name: str, types: dict[str, str | None]) -> dict[str, Any]:
    """A strict ``json_schema`` response format requiring exactly ``types``' keys."""
    properties = {k: ({"type": t} if t else {}) for k, t in types.items()}
    schema = {"type": "object", "properties": properties, "required": list(types), "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
