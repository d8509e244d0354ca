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
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import ValidationError

from ._generate import json_items, linear_items
from ._items import (
    DEFAULT_SEEDS,
    JSON_PERTURBATIONS,
    LINEAR_PERTURBATIONS,
    ArithmeticTruth,
    ChatBody,
    EvaluationTruth,
    JsonTruth,
    LinearTruth,
    ProseTruth,
    QuadraticTruth,
    SystemTruth,
    Truth,
    WorkloadError,
    WorkloadItem,
    first_error,
)

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
            raise WorkloadError(f"{where}: {first_error(exc)}") from exc
        if item.id in seen:
            raise WorkloadError(f"{where}: duplicate id {item.id!r} (first used on line {seen[item.id]})")
        seen[item.id] = number
        items.append(item)
    if not items:
        raise WorkloadError(f"{path}: no items; write one JSON object per line (see stepcache_bench.workload)")
    return items


def dump_workload(items: Iterable[WorkloadItem], path: str | Path) -> Path:
    """Write ``items`` as JSONL (the format :func:`load_workload` reads) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for item in items:
            out.write(item.model_dump_json(exclude_none=True) + "\n")
    return path
