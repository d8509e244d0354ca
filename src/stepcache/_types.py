"""The values that flow through the pipeline.

request → retrieve → adapt → verify → reuse / patch / skip → stitch → store → respond

``ChatRequest`` is what callers give :meth:`StepCache.complete`; ``Result`` is what they get back.
``BackendRequest``/``Completion`` cross the :class:`~stepcache.Backend` seam; ``Entry`` crosses the
:class:`~stepcache.Store` seam. Hot-path values are frozen dataclasses; caller input is validated by pydantic.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "FORMAT_VERSION",
    "Vector",
    "Message",
    "ChatRequest",
    "BackendRequest",
    "Completion",
    "StepCheck",
    "Verification",
    "Route",
    "AuditOutcome",
    "StepCounts",
    "TokenUsage",
    "Result",
    "Scope",
    "Entry",
    "StoreStats",
]

#: Bumped whenever segmentation, task encoding or adaptation data change shape. It is part of every
#: cache key, so entries written by an older format are never served (they simply stop matching).
FORMAT_VERSION = 2

#: An L2-normalised float32 embedding.
Vector = npt.NDArray[np.float32]

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str


class ChatRequest(BaseModel):
    """One chat request, already translated from whatever API it came through.

    ``namespace`` scopes the cache (one per tenant); a request is never answered from another
    namespace's entry. ``response_format`` follows OpenAI's shape (``{"type": "json_object"}`` or
    ``{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": bool}}``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: tuple[Message, ...] = Field(min_length=1)
    model: str = "default"
    namespace: str = "default"
    response_format: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, gt=0)

    @field_validator("messages")
    @classmethod
    def _needs_user_text(cls, messages: tuple[Message, ...]) -> tuple[Message, ...]:
        if not any(m.role == "user" and m.content.strip() for m in messages):
            raise ValueError("at least one 'user' message with non-empty content is required")
        return messages

    @property
    def prompt(self) -> str:
        """The text of the user turns, which is what families parse."""
        return "\n".join(m.content for m in self.messages if m.role == "user")

    @property
    def system(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "system")


@dataclass(frozen=True, slots=True)
class BackendRequest:
    """What StepCache asks a model for. ``messages`` are plain ``{"role", "content"}`` dicts."""

    messages: tuple[dict[str, str], ...]
    model: str
    max_tokens: int | None = None
    temperature: float = 0.0
    response_format: dict[str, Any] | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer. Token counts come from the server's ``usage`` when it reports them."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    finish_reason: str = "stop"


@dataclass(frozen=True, slots=True)
class StepCheck:
    """The verdict on one step: ``ok`` and, when not, a reason a person can read.

    ``doubt`` marks a failure the family suspects but cannot prove (a value the request text seems
    to contradict): it is repaired like any failure, but a model answer left with only doubts after
    the repair is served, never stored.
    """

    index: int
    ok: bool
    reason: str = ""
    doubt: bool = False


@dataclass(frozen=True, slots=True)
class Verification:
    """A family's verdict on a whole answer.

    ``ok`` is true only when every step passed and the answer as a whole is complete.
    ``first_failure`` is the index of the first failing step (``None`` when all steps pass but the
    answer is incomplete, e.g. a missing JSON key or no final ``x = value`` line).
    ``problems`` lists whole-answer problems (missing keys, no final line, ...).
    """

    steps: tuple[StepCheck, ...]
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems and all(s.ok for s in self.steps)

    @property
    def first_failure(self) -> int | None:
        return next((s.index for s in self.steps if not s.ok), None)

    @property
    def failing(self) -> tuple[int, ...]:
        return tuple(s.index for s in self.steps if not s.ok)

    @property
    def only_doubts(self) -> bool:
        """Not ok, but every failure is a doubt: no whole-answer problem, no step proven wrong."""
        return not self.ok and not self.problems and all(s.ok or s.doubt for s in self.steps)

    def summary(self) -> str:
        parts = [f"step {s.index + 1}: {s.reason}" for s in self.steps if not s.ok]
        return "; ".join(parts + list(self.problems)) or "all steps verified"


class Route(str, enum.Enum):
    """How a response was produced."""

    REUSE = "reuse"  # cached steps adapted and verified; no model call
    PATCH = "patch"  # cached steps kept, the failing region regenerated (or a deterministic fallback)
    SKIP = "skip"  # a similar entry existed but the change is semantic: generated fresh
    MISS = "miss"  # nothing similar cached: generated fresh
    BYPASS = "bypass"  # not cacheable (sampling, tools, n > 1): forwarded unchanged


class AuditOutcome(str, enum.Enum):
    """What the production audit found when it asked the upstream again for a reused answer."""

    AGREE = "agree"  # the fresh answer verified and says the same thing
    DISAGREE = "disagree"  # the fresh answer verified and says something else: the entry is quarantined
    INCONCLUSIVE = "inconclusive"  # upstream error, a fresh answer that fails verification, or no verdict
    DROPPED = "dropped"  # sampled, but the audit queue was full (or the cache closed) before it ran


@dataclass(frozen=True, slots=True)
class StepCounts:
    reused: int = 0
    patched: int = 0
    total: int = 0


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt: int = 0
    completion: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(self.prompt + other.prompt, self.completion + other.completion)

    @classmethod
    def of(cls, completion: Completion) -> TokenUsage:
        return cls(completion.prompt_tokens, completion.completion_tokens)


@dataclass(frozen=True, slots=True)
class Result:
    """The answer and how it was produced."""

    text: str
    path: Route
    family: str
    entry: str | None = None  # id of the matched cache entry
    similarity: float | None = None
    steps: StepCounts = StepCounts()
    upstream_tokens: TokenUsage = TokenUsage()
    verification: Verification | None = None
    fallback: bool = False  # a deterministic fallback wrote (part of) the answer
    stored: str | None = None  # id of the entry this result was stored as, if any
    detail: str = ""  # why this path was taken, for logs and the proxy's metadata

    def metadata(self) -> dict[str, Any]:
        """The ``stepcache`` object the proxy puts in response bodies."""
        return {
            "path": self.path.value,
            "family": self.family,
            "entry": self.entry,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "steps": {"reused": self.steps.reused, "patched": self.steps.patched, "total": self.steps.total},
            "upstream_tokens": {"prompt": self.upstream_tokens.prompt, "completion": self.upstream_tokens.completion},
            "fallback": self.fallback,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Scope:
    """Every lookup is confined to one tenant, one model and one task family."""

    namespace: str
    model: str
    family: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached, verified answer.

    ``key`` is the exact-match key (it includes :data:`FORMAT_VERSION`), ``signature`` the template
    signature (constants and identifiers masked), ``task`` the family's parsed form of the request
    and ``prepared`` whatever the family precomputed at store time to make adaptation cheap.
    """

    key: str
    scope: Scope
    signature: str
    prompt: str
    task: dict[str, Any]
    steps: tuple[str, ...]
    text: str
    embedding: Vector
    prepared: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    id: str = ""  # assigned by the store
    created_at: float = 0.0
    cost: TokenUsage = TokenUsage()  # upstream tokens spent to produce it (what a reuse saves)
    #: Unix time after which the entry is never served, and is deleted at the store's next eviction;
    #: ``None``: kept until evicted or purged (a store opened with ``ttl`` sets it at ``put``).
    expires_at: float | None = None
    #: Name of the :class:`~stepcache.Embedder` that made ``embedding`` (its ``name``): a neighbour
    #: search compares only vectors of one embedder. ``""``: set by the store at ``put`` from the
    #: vector's length, to the name entries stored before embedders were recorded were given
    #: (``stepcache.store._vectors.legacy_embedder``).
    embedder: str = ""


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What ``stepcache stats`` and ``/metrics`` report. Quarantined entries are not in ``entries``."""

    entries: int
    entries_by_family: dict[str, int]
    paths: dict[str, int]  # path name → requests served
    tokens_spent: int
    tokens_saved: int
    #: family → audit outcome (``AuditOutcome`` value) → audits
    audits: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Upstream tokens the audits themselves cost (not in ``tokens_spent``).
    audit_tokens: TokenUsage = TokenUsage()
    #: family → entries quarantined after an audit disagreed (kept, never served)
    quarantined_by_family: dict[str, int] = field(default_factory=dict)
    #: Entries deleted by the store's size cap (least recently used first) or because they expired,
    #: since the store was created (kept in the store, so every process sharing it reports the same).
    evicted: int = 0

    @property
    def quarantined(self) -> int:
        return sum(self.quarantined_by_family.values())

    def disagreement_rate(self, family: str | None = None) -> float | None:
        """Disagreeing audits over conclusive ones (agree + disagree), for one family or all;
        ``None`` before any audit was conclusive."""
        counts = [c for name, c in self.audits.items() if family is None or name == family]
        agree = sum(c.get(AuditOutcome.AGREE.value, 0) for c in counts)
        disagree = sum(c.get(AuditOutcome.DISAGREE.value, 0) for c in counts)
        return disagree / (agree + disagree) if agree + disagree else None
