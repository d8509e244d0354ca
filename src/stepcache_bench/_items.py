"""The workload's items and their ground truth (the JSONL format is documented in :mod:`.workload`).

Kept apart from :mod:`.workload`, which generates and reads workloads, so the generators can build
items without importing the module that calls them.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stepcache import BackendRequest, ChatRequest, InvalidRequest

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
    "first_error",
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
            raise ValueError(f"request is not a valid chat request: {first_error(exc)}") from exc
        return self

    @property
    def prompt(self) -> str:
        return "\n".join(m.get("content", "") for m in self.request.messages if m.get("role") == "user")


def first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "item"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"
