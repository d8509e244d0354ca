"""The Family seam: what StepCache knows about one kind of task.

A family recognises its requests (:meth:`Family.detect`), splits answers into steps
(:meth:`Family.segment`), re-renders cached steps for a new request (:meth:`Family.adapt`), checks
them (:meth:`Family.verify`), asks the model for just the failing region (:meth:`Family.patch_request`
then :meth:`Family.stitch`) and, where it can, corrects an answer without the model
(:meth:`Family.fix`) or writes one (:meth:`Family.fallback`). The engine owns the control flow;
families own the knowledge.

Only recognising, generating, segmenting, adapting and verifying are required; repair has
defaults (regenerate the whole answer, no deterministic fix, no fallback), so a new family starts
with five methods and grows the rest when it can do better.

Families register through the ``stepcache.families`` entry-point group (see ``_plugins.py``), the
built-ins exactly like third-party ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

from .._types import BackendRequest, ChatRequest, Entry, Verification

__all__ = ["Family", "Task", "Adaptation", "SemanticChange", "Prefix", "steps_of"]

#: A family's own reading of a request (``Reading`` for linear, ``JsonSpec`` for JSON, ...).
P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Task(Generic[P]):
    """A request as a family understands it.

    ``data`` is JSON-serialisable and is what the store keeps (so :meth:`Family.load_task` can rebuild
    the task of a cached entry); ``parsed`` is the family's own typed reading of it (a
    ``Family[P]`` gets and gives ``Task[P]``), never stored. ``signature`` is the template signature
    (constants and names masked) used for retrieval. ``reusable=False`` marks a request the family
    recognises but must never answer from cache (it is generated fresh and not adapted from a
    neighbour).
    """

    family: str
    data: Mapping[str, Any]
    signature: str
    parsed: P = field(compare=False)
    reusable: bool = True


@dataclass(frozen=True, slots=True)
class Adaptation:
    """What :meth:`Family.adapt` made of a cached entry: the re-rendered ``steps`` (what could not be
    adapted is left out or left failing) and ``notes`` saying why parts were left out, which the
    engine puts in ``Result.detail`` when it regenerates them."""

    steps: list[str]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SemanticChange:
    """:meth:`Family.adapt`'s verdict that the change from the cached request is semantic, and why:
    the entry is not reused at all and the request is answered fresh (path ``skip``)."""

    reason: str


def steps_of(adapted: list[str] | Adaptation | SemanticChange | None) -> list[str] | None:
    """The steps of what :meth:`Family.adapt` returned; ``None`` for a semantic change."""
    if adapted is None or isinstance(adapted, SemanticChange):
        return None
    return adapted.steps if isinstance(adapted, Adaptation) else list(adapted)


@dataclass(frozen=True, slots=True)
class Prefix:
    """What the start of a model answer still being generated already settles (see
    :meth:`Family.verify_prefix`)."""

    #: The start of the answer the engine will serve, safe to send now: the rendering of the
    #: verified ``steps`` (without a trailing separator; the next step's rendering extends it).
    text: str
    #: The verified steps ``text`` renders.
    steps: tuple[str, ...] = ()
    #: A complete step already failed verification: nothing from it on will be sent as generated.
    failed: bool = False


class Family(ABC, Generic[P]):
    #: Unique name; part of every cache scope.
    name: ClassVar[str]
    #: Families are asked to ``detect`` in ascending priority; ``generic`` comes last.
    priority: ClassVar[int] = 100
    #: How many times the engine asks the model to fix a failing answer before falling back.
    #: Instances may override it (e.g. ``LinearFamily(max_repairs=3)``).
    max_repairs: int = 1
    #: Minimum cosine similarity for an embedding neighbour to be considered for adaptation
    #: (above 1.0: never adapt from a neighbour, only from exact or signature matches).
    min_similarity: float = 0.80
    #: What to do with a fresh model answer that still fails verification after the repairs and has
    #: no fallback: ``False`` raises :class:`~stepcache.UnverifiableAnswer`; ``True`` serves the
    #: model's own answer as it came (to the request the family sent) and stores
    #: nothing — for families whose checker proves some answers right but cannot write one.
    serve_unverified: ClassVar[bool] = False
    #: Whether a model answer whose only failures are doubts (nothing proven wrong) is sent back to
    #: the model for repair. ``False`` serves it unverified at once — for families whose doubts are
    #: the model's own reasoning (a number the checker cannot trace), which a repair rarely changes.
    repair_doubts: ClassVar[bool] = True
    #: Whether a fresh model answer that fails verification is sent back to the model for repair.
    #: ``False`` (with ``serve_unverified``) keeps the model's own answer when the family cannot
    #: prove it right: a repair that verifies could still replace a right answer with a wrong one.
    repair_fresh: ClassVar[bool] = True
    #: When :meth:`verify_prefix` is worth asking while an answer streams in: ``"line"`` once a
    #: line is complete (it is given the text up to its last line break), ``"text"`` after every
    #: piece the model sends.
    prefix_unit: ClassVar[Literal["line", "text"]] = "line"

    # -- recognise -----------------------------------------------------------------------------
    @abstractmethod
    def detect(self, request: ChatRequest) -> Task[P] | None:
        """The task, if this family handles ``request``; ``None`` to let the next family try.

        Raises :class:`~stepcache.InvalidRequest` when the request is clearly meant for this family
        but malformed (e.g. a ``json_schema`` that is not valid JSON Schema).
        """

    @abstractmethod
    def load_task(self, data: Mapping[str, Any]) -> Task[P]:
        """Rebuild the task of a cached entry from its stored ``data``."""

    # -- generate ------------------------------------------------------------------------------
    @abstractmethod
    def fresh_request(self, request: ChatRequest, task: Task[P]) -> BackendRequest:
        """The model call for a miss or skip (the family may add format instructions)."""

    def retrieval_text(self, request: ChatRequest, task: Task[P]) -> str:
        """The text whose embedding finds look-alike entries (the prompt; a family may mask what
        varies between look-alikes, such as a document's values, so its template is what is found)."""
        return request.prompt

    @abstractmethod
    def segment(self, task: Task[P], text: str) -> list[str]:
        """Split an answer into ordered steps. Returns ``[]`` when nothing usable is in ``text``."""

    @abstractmethod
    def render(self, task: Task[P], steps: Sequence[str]) -> str:
        """Stitch steps back into the answer text served to the caller."""

    # -- reuse ---------------------------------------------------------------------------------
    def prepare(self, task: Task[P], steps: Sequence[str], source: Entry | None = None) -> dict[str, Any]:
        """Data computed once at store time to make :meth:`adapt` cheap (kept in ``Entry.prepared``).

        ``source`` is the cached entry this answer was patched from (``None`` for a fresh answer): what
        it learned can be checked against this answer's independently generated parts.
        """
        return {}

    @abstractmethod
    def adapt(self, entry: Entry, cached: Task[P], task: Task[P]) -> list[str] | Adaptation | SemanticChange | None:
        """Re-render the cached steps for ``task``.

        Returns the steps (or an :class:`Adaptation` with notes on what was left out), or a
        :class:`SemanticChange` (``None`` says the same without a reason) when the change from ``cached``
        to ``task`` is semantic and the entry must not be reused at all (the engine then takes the skip
        path). Whatever cannot be adapted may be left out or as it was: :meth:`verify` will reject it.
        """

    @abstractmethod
    def verify(self, task: Task[P], steps: Sequence[str]) -> Verification:
        """Check every step against ``task``."""

    # -- repair --------------------------------------------------------------------------------
    def fix(self, task: Task[P], steps: Sequence[str], report: Verification) -> list[str] | None:
        """``steps`` corrected without the model (an arithmetic slip recomputed), or ``None``.

        Tried before any model repair; the engine keeps the result only if it verifies better.
        """
        return None

    def patch_request(
        self, request: ChatRequest, task: Task[P], steps: Sequence[str], report: Verification
    ) -> BackendRequest:
        """A model call that regenerates only the failing region of ``steps`` (by default: the
        whole answer, as on a miss)."""
        return self.fresh_request(request, task)

    def stitch(self, task: Task[P], steps: Sequence[str], report: Verification, text: str) -> list[str]:
        """Merge the model's answer to :meth:`patch_request` into the verified rest of ``steps``
        (by default the answer replaces them)."""
        return self.segment(task, text)

    def fallback(self, task: Task[P]) -> list[str] | None:
        """A correct answer written without the model, or ``None`` when the family cannot."""
        return None

    # -- streaming -----------------------------------------------------------------------------
    def verify_prefix(self, task: Task[P], text: str) -> Prefix | None:
        """While a fresh answer streams in: the part of the final answer that ``text`` (the model's
        answer so far) already settles — its complete steps that verify, in order, rendered as
        :meth:`render` will render them — and whether a complete step failed. The engine sends
        ``Prefix.text`` to a streaming client at once, so it must be a prefix of what the engine
        serves once the answer is whole and repaired (a repair keeps the verified steps before the
        first failure). ``None`` (the default): nothing is sent before the whole answer verifies.
        """
        return None

    # -- audit ---------------------------------------------------------------------------------
    def same_answer(self, task: Task[P], served: Sequence[str], fresh: Sequence[str]) -> bool | None:
        """Whether two verified answers to ``task`` say the same thing (the production audit compares
        a reused answer with a fresh one this way); ``None`` when the family has no notion of
        equivalence, and then its answers are not audited.
        """
        return None
