"""The benchmark workload: items, their ground truth, and the JSONL file format.

A workload is a list of :class:`WorkloadItem`; :func:`generate_workload` builds the paper-shaped one
(two tasks, 10 base prompts per task, k = 3 variants per perturbation, deterministic for a seed) and
:func:`load_workload` reads a user's own trace, so ``stepcache demo --workload FILE.jsonl`` (and
``stepcache bench --workload``) measure real traffic.

JSONL format — one JSON object per line, blank lines ignored::

    {"id": "order-17",                                     # required, unique
     "request": {"messages": [{"role": "user", "content": "..."}],   # required: an OpenAI chat body
                 "response_format": {...},                 # optional; json_object or json_schema
                 "max_tokens": 256, "model": "..."},       # optional; other OpenAI fields are ignored
     "task": "linear" | "json" | "...",                    # optional, default "other" (for grouping)
     "perturbation": "base" | "constants" | ...,           # optional, default "base"
     "base_id": "order-3",                                 # optional: the item this one varies
     "seed": 42,                                           # optional
     "semantic": false,                                    # optional: true if the change alters the task
     "truth": {...},                                       # optional ground truth; without it the
                                                           # answer is reported as "unchecked"
     "family": "linear"}                                   # optional: the family that should claim it

``truth`` is one of (``kind`` selects which; values are exact: fractions as strings like ``"-7/3"``):

* ``{"kind": "linear", "variable": "x", "solution": "5/2", "format": "any" | "fraction" | "decimal",
  "equation": "2x + 1 = 6", "answer": "steps" | "final", "boxed": false, "places": null}`` — the
  answer's final ``x = value`` line must equal ``solution``; with ``answer: "final"`` the answer is the
  value alone, ``boxed`` puts it in ``\boxed{}``, ``places`` rounds it to that many decimal places.
* ``{"kind": "quadratic", "variable": "x", "roots": ["2", "3"], "equation": "..."}`` — every root stated.
* ``{"kind": "evaluation", "value": "17", "expression": "3x + 5"}`` — the answer ends with the value.
* ``{"kind": "system", "solution": {"x": "6", "y": "4"}, "equations": ["...", "..."]}``.
* ``{"kind": "json", "required_keys": ["name", "age"], "expected": {"name": "Ada"},
  "additional_keys": true}`` — one JSON object, those keys, those values (numbers as numbers, strings
  compared case-insensitively after trimming); ``additional_keys: false`` forbids other keys.
* ``{"kind": "prose", "mentions": ["Ada Lovelace"]}`` — prose, not JSON, naming each string.
* ``{"kind": "arithmetic", "answer": "13020", "solution": "..."}`` — a word problem: the answer's
  stated final number (``The answer is N``, ``#### N``, ``\boxed{N}``; else its last number) must equal
  ``answer``; ``solution`` is a reference solution (the scripted model answers with it).

Errors name the line and the field: ``workload.jsonl:12: request.messages: at least one 'user' ...``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._exceptions import InvalidRequest
from .._types import BackendRequest, ChatRequest

__all__ = [
    "DEFAULT_SEEDS",
    "LINEAR_PERTURBATIONS",
    "JSON_PERTURBATIONS",
    "ChatBody",
    "LinearTruth",
    "QuadraticTruth",
    "EvaluationTruth",
    "SystemTruth",
    "JsonTruth",
    "ProseTruth",
    "ArithmeticTruth",
    "Truth",
    "WorkloadItem",
    "WorkloadError",
    "generate_workload",
    "load_workload",
    "dump_workload",
]

DEFAULT_SEEDS: tuple[int, ...] = (42, 43, 44)
LINEAR_PERTURBATIONS: tuple[str, ...] = ("constants", "rename", "paraphrase", "format", "semantic")
JSON_PERTURBATIONS: tuple[str, ...] = ("values", "add_key", "rename_key", "paraphrase", "semantic")


class WorkloadError(InvalidRequest):
    """A workload file (or item) is malformed; the message names the line and the field."""


def _exact(value: str) -> str:
    try:
        Fraction(value.strip())
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"{value!r} is not an exact number (write '5', '-2.5' or '7/3')") from exc
    return value.strip()


class _Truth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinearTruth(_Truth):
    kind: Literal["linear"] = "linear"
    variable: str = Field(pattern=r"^[A-Za-z]$")
    solution: str
    format: Literal["any", "fraction", "decimal"] = "any"
    equation: str = ""
    #: How the caller asked for the answer to be presented: ``steps`` (a derivation ending with
    #: ``x = value``) or ``final`` (only the value, "output only the final number").
    answer: Literal["steps", "final"] = "steps"
    #: The value must be written inside ``\boxed{...}``.
    boxed: bool = False
    #: The value must be rounded to this many decimal places.
    places: int | None = Field(default=None, ge=0, le=12)

    @field_validator("solution")
    @classmethod
    def _exact_solution(cls, solution: str) -> str:
        return _exact(solution)


class QuadraticTruth(_Truth):
    kind: Literal["quadratic"] = "quadratic"
    variable: str = Field(pattern=r"^[A-Za-z]$")
    roots: tuple[str, ...] = Field(min_length=1)
    equation: str = ""

    @field_validator("roots")
    @classmethod
    def _exact_roots(cls, roots: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_exact(r) for r in roots)


class EvaluationTruth(_Truth):
    kind: Literal["evaluation"] = "evaluation"
    value: str
    expression: str = ""

    @field_validator("value")
    @classmethod
    def _exact_value(cls, value: str) -> str:
        return _exact(value)


class SystemTruth(_Truth):
    kind: Literal["system"] = "system"
    solution: dict[str, str] = Field(min_length=1)
    equations: tuple[str, ...] = ()

    @field_validator("solution")
    @classmethod
    def _exact_solution(cls, solution: dict[str, str]) -> dict[str, str]:
        return {name: _exact(value) for name, value in solution.items()}


class JsonTruth(_Truth):
    kind: Literal["json"] = "json"
    required_keys: tuple[str, ...]
    expected: dict[str, Any] = Field(default_factory=dict)
    additional_keys: bool = True


class ProseTruth(_Truth):
    kind: Literal["prose"] = "prose"
    mentions: tuple[str, ...] = ()


class ArithmeticTruth(_Truth):
    kind: Literal["arithmetic"] = "arithmetic"
    answer: str
    #: A correct solution, one calculation per line, ending with "The answer is N."
    solution: str = ""

    @field_validator("answer")
    @classmethod
    def _exact_answer(cls, answer: str) -> str:
        return _exact(answer.replace(",", ""))


Truth = Annotated[
    LinearTruth | QuadraticTruth | EvaluationTruth | SystemTruth | JsonTruth | ProseTruth | ArithmeticTruth,
    Field(discriminator="kind"),
]


class ChatBody(BaseModel):
    """The OpenAI chat body of an item. Fields StepCache does not use (temperature, ...) are kept but ignored."""

    model_config = ConfigDict(extra="allow", frozen=True)

    messages: tuple[dict[str, str], ...] = Field(min_length=1)
    response_format: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    model: str | None = None

    def chat_request(self, model: str, namespace: str = "default") -> ChatRequest:
        return ChatRequest.model_validate(
            {
                "messages": [{"role": m.get("role"), "content": m.get("content")} for m in self.messages],
                "model": self.model or model,
                "namespace": namespace,
                "response_format": self.response_format,
                "max_tokens": self.max_tokens,
            }
        )

    def backend_request(self, model: str) -> BackendRequest:
        """The same request sent straight to the model (the "no cache" system)."""
        return BackendRequest(
            messages=tuple({"role": m["role"], "content": m["content"]} for m in self.messages),
            model=self.model or model,
            max_tokens=self.max_tokens,
            response_format=self.response_format,
        )


class WorkloadItem(BaseModel):
    """One request of a workload, with what the independent checker needs to judge its answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    request: ChatBody
    task: str = "other"
    perturbation: str = "base"
    base_id: str | None = None
    seed: int | None = None
    semantic: bool = False
    truth: Truth | None = None
    #: The task family that should claim this request (``linear``, ``json``, ``generic``, ...), for
    #: detection-coverage reports; ``None`` when the item does not say.
    family: str | None = None

    @model_validator(mode="after")
    def _request_is_a_chat_request(self) -> WorkloadItem:
        try:  # fail at load time, with a line number, rather than halfway through a run
            self.request.chat_request(model="default")
        except ValidationError as exc:
            raise ValueError(f"request is not a valid chat request: {_first_error(exc)}") from exc
        return self

    @property
    def prompt(self) -> str:
        return "\n".join(m.get("content", "") for m in self.request.messages if m.get("role") == "user")


def generate_workload(
    seed: int = DEFAULT_SEEDS[0],
    *,
    bases_per_task: int = 10,
    variants_per_perturbation: int = 3,
    tasks: Sequence[str] = ("linear", "json"),
    max_tokens: int | None = 384,
) -> list[WorkloadItem]:
    """The paper-shaped workload for ``seed``: all base prompts first, then every variant, each group
    shuffled by ``seed``. Each base gets ``variants_per_perturbation`` variants of every perturbation,
    so one seed holds ``len(tasks) * bases_per_task * (1 + 5 * variants_per_perturbation)`` items.
    The same arguments always give the same items.
    """
    import random

    from ._generate import json_items, linear_items

    if bases_per_task < 1 or variants_per_perturbation < 0:
        raise ValueError("bases_per_task must be ≥ 1 and variants_per_perturbation ≥ 0")
    makers = {"linear": linear_items, "json": json_items}
    unknown = [t for t in tasks if t not in makers]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; choose from {sorted(makers)}")
    bases: list[WorkloadItem] = []
    variants: list[WorkloadItem] = []
    for index, task in enumerate(tasks):
        for item in makers[task](seed * 100 + index, seed, bases_per_task, variants_per_perturbation, max_tokens):
            (bases if item.perturbation == "base" else variants).append(item)
    rng = random.Random(seed)
    rng.shuffle(bases)
    rng.shuffle(variants)
    return bases + variants


def load_workload(path: str | Path) -> list[WorkloadItem]:
    """Read a JSONL workload. Raises :class:`WorkloadError` naming the first bad line and what is wrong."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise WorkloadError(f"cannot read workload file {path}: {exc.strerror or exc}") from exc
    items: list[WorkloadItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise WorkloadError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(data, dict):
            raise WorkloadError(f"{where}: each line must be a JSON object, got {type(data).__name__}")
        try:
            item = WorkloadItem.model_validate(data)
        except ValidationError as exc:
            raise WorkloadError(f"{where}: {_first_error(exc)}") from exc
        if item.id in seen:
            raise WorkloadError(f"{where}: duplicate id {item.id!r} (first used on line {seen[item.id]})")
        seen[item.id] = number
        items.append(item)
    if not items:
        raise WorkloadError(f"{path}: no items; write one JSON object per line (see stepcache.bench.workload)")
    return items


def dump_workload(items: Iterable[WorkloadItem], path: str | Path) -> Path:
    """Write ``items`` as JSONL (the format :func:`load_workload` reads) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for item in items:
            out.write(item.model_dump_json(exclude_none=True) + "\n")
    return path


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "item"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"
