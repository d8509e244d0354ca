"""ArithmeticFamily: the Family seam for multi-step arithmetic word problems."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, ClassVar

from ..._exceptions import StoreError
from ..._types import BackendRequest, ChatRequest, Entry, StepCheck, Verification
from .._base import Adaptation, Family, Prefix, SemanticChange, Task
from ._chain import answer_index, carry, check, correct, final_answer, narrow, provenance, read_line
from ._question import Question, align, free_after, read_question, rename, skeleton
from ._read import question_of, split_lines
from ._text import plain_line

__all__ = ["ArithmeticFamily"]

#: Bumped when provenance is computed differently: older entries are re-prepared on use.
PREPARED_VERSION = 2
#: A continuation is a few short lines; a model that rambles past this is cut off and fails.
PATCH_MAX_TOKENS = 200
#: Constants that are arithmetic, not unit conversions: they survive a change of units.
_UNITLESS = {"1", "2", "100"}

#: The format a *continuation* is asked for (fresh answers are the caller's own request).
_SYSTEM = 'One calculation per line, like "Apples: 3 * 4 = 12". End with "The answer is N."'


def _question(task: Task[Question]) -> Question:
    return task.parsed


def _task(question: str, system: str) -> Task[Question]:
    parsed = read_question(question)
    shape = " ".join(skeleton(parsed))
    return Task(
        family=ArithmeticFamily.name,
        data={"question": question, "system": system},
        # instances of one problem share the skeleton: they are found by signature, not only by embedding
        signature="arithmetic|" + hashlib.sha256(f"{system.strip()}\n{shape}".encode()).hexdigest()[:32],
        parsed=parsed,
    )


class ArithmeticFamily(Family[Question]):
    """Word problems: exact checks of every calculation, arithmetic slips corrected without the
    model, solutions carried to look-alike problems by re-evaluation (see the package docstring)."""

    name: ClassVar[str] = "arithmetic"
    priority: ClassVar[int] = 50
    serve_unverified: ClassVar[bool] = True
    repair_doubts: ClassVar[bool] = False
    #: A checker that reads free-form working can fail a right answer; a model "repair" that then
    #: verifies might be wrong (measured: 1 right answer of 55 replaced on the embedded model).
    repair_fresh: ClassVar[bool] = False
    min_similarity = 0.75

    def __init__(self, *, confirmations: int = 1, max_repairs: int = 1) -> None:
        if confirmations < 0 or max_repairs < 0:
            raise ValueError("confirmations and max_repairs must be >= 0")
        self.confirmations = confirmations
        self.max_repairs = max_repairs

    # -- recognise -----------------------------------------------------------------------------
    def detect(self, request: ChatRequest) -> Task[Question] | None:
        question = question_of(request)
        return None if question is None else _task(question, request.system)

    def load_task(self, data: Mapping[str, Any]) -> Task[Question]:
        try:
            return _task(str(data["question"]), str(data.get("system", "")))
        except (KeyError, TypeError) as exc:
            raise StoreError(
                f"cached arithmetic task cannot be read ({exc}); delete the entry or clear the cache"
            ) from exc

    def retrieval_text(self, request: ChatRequest, task: Task[Question]) -> str:
        # Numbers vary between instances of a problem; masked, the template is what is found.
        return re.sub(r"\d[\d,.]*", "#", str(task.data["question"]))

    # -- generate ------------------------------------------------------------------------------
    def fresh_request(self, request: ChatRequest, task: Task[Question]) -> BackendRequest:
        """The caller's own request, unchanged: the model reasons the way it would without a cache
        (a format instruction made a small model skip its working), a miss costs what the bare
        request costs, and an answer that cannot be verified is the one the caller would have got.
        Free-form working (prose, markdown, LaTeX) is read all the same."""
        return BackendRequest(
            messages=tuple({"role": m.role, "content": m.content} for m in request.messages),
            model=request.model,
            max_tokens=request.max_tokens,
        )

    def segment(self, task: Task[Question], text: str) -> list[str]:
        return split_lines(text)

    def render(self, task: Task[Question], steps: Sequence[str]) -> str:
        return "\n".join(steps)

    # -- reuse ---------------------------------------------------------------------------------
    def prepare(self, task: Task[Question], steps: Sequence[str], source: Entry | None = None) -> dict[str, Any]:
        question = _question(task)
        lines = [read_line(s) for s in steps]
        prov: list[Any] = provenance(question, lines)
        prepared: dict[str, Any] = {"version": PREPARED_VERSION, "prov": prov, "agreed": 0, "free": []}
        if source is not None and source.scope.family == self.name:
            prepared.update(self._confirm(question, lines, prov, source))
        return prepared

    def _confirm(self, question: Question, lines: list[Any], prov: list[Any], source: Entry) -> dict[str, Any]:
        """What this answer learns from ``source`` (an earlier instance): the provenance both support
        and, when ``source``'s solution carried to this question gives this answer's result, one more
        agreement and the words that differed between the two (free to vary from now on)."""
        cached = read_question(str(source.task.get("question", "")))
        alignment = align(cached, question)
        if isinstance(alignment, str):
            return {}
        theirs = self._provenance(source, cached)
        narrowed = narrow(prov, theirs)
        known = frozenset(int(k) for k in source.prepared.get("free", []))
        # What earlier agreements showed to be free stays free here, agreement or not.
        learned: dict[str, Any] = {"free": sorted({b for a, b in alignment.moved if a in known})}
        if narrowed is not None:
            learned["prov"] = narrowed
        mine = final_answer(lines)
        for candidate in (narrowed, theirs):
            if candidate is None:
                continue
            carried, stopped = carry(cached, question, source.steps, candidate)
            if stopped is None and mine is not None and final_answer([read_line(s) for s in carried]) == mine:
                learned.update(
                    agreed=int(source.prepared.get("agreed", 0)) + 1, free=sorted(free_after(alignment, known))
                )
                break
        return learned

    def _provenance(self, entry: Entry, cached: Question) -> list[Any]:
        prepared = entry.prepared
        if prepared.get("version") == PREPARED_VERSION and isinstance(prepared.get("prov"), list):
            return list(prepared["prov"])
        return provenance(cached, [read_line(s) for s in entry.steps])

    def adapt(self, entry: Entry, cached: Task[Question], task: Task[Question]) -> Adaptation | SemanticChange:
        old, new = _question(cached), _question(task)
        alignment = align(old, new, frozenset(int(k) for k in entry.prepared.get("free", [])))
        if isinstance(alignment, str):
            return SemanticChange(alignment)
        if int(entry.prepared.get("agreed", 0)) < self.confirmations:
            return SemanticChange("its solution is not yet confirmed by a second instance's answer")
        prov = self._provenance(entry, old)
        if alignment.units_changed and _converts_units(prov):
            return SemanticChange("a unit changed and the cached solution converts units")
        used: set[int] = set()
        carried, stopped = carry(old, new, entry.steps, prov, used)
        if stopped is None:
            unused = [
                new.slots[i].text
                for i, (a, b) in enumerate(zip(old.slots, new.slots))
                if a.value != b.value and i not in used
            ]
            if unused:
                # The solution does not read a quantity that changed: it may have used it in a way
                # provenance cannot see (doubling by "x + x"), so its carried answer proves nothing.
                return SemanticChange(f"{', '.join(unused)} changed but the cached solution never reads it")
        steps = [rename(s, alignment.renames) for s in carried]
        if alignment.currency is not None:
            steps = [s.replace(alignment.currency[0], alignment.currency[1]) for s in steps]
        return Adaptation(steps, (stopped,) if stopped else ())

    def verify(self, task: Task[Question], steps: Sequence[str]) -> Verification:
        lines = [read_line(s) for s in steps]
        findings = check(_question(task), lines)
        checks = []
        for i in range(len(steps)):
            mine = [f for f in findings if f.line == i]
            proven = [f for f in mine if f.proven]
            reasons = "; ".join(f.reason for f in (proven or mine))
            checks.append(StepCheck(i, not mine, reasons, doubt=bool(mine) and not proven))
        problems: list[str] = []
        stated = answer_index(lines)
        if not steps:
            problems.append("the answer is empty")
        elif stated is None:
            problems.append("the solution must state its answer, as in 'The answer is N.'")
        elif not any(line.calcs for line in lines):
            problems.append("no calculation shows how the answer was reached")
        elif any(line.calcs for line in lines[stated + 1 :]):
            problems.append("calculations follow the stated answer")
        return Verification(tuple(checks), tuple(problems))

    def verify_prefix(self, task: Task[Question], text: str) -> Prefix:
        """The complete lines, as the model wrote them, up to the first one a check doubts or
        disproves; the line stating the answer is held back for the whole answer's checks."""
        steps = self.segment(task, text)
        lines = [read_line(s) for s in steps]
        flagged = {f.line for f in check(_question(task), lines)}
        good = next((i for i in range(len(steps)) if i in flagged), len(steps))
        held = next((i for i, line in enumerate(lines) if line.final is not None), good)
        sent = min(good, held)
        return Prefix(self.render(task, steps[:sent]), tuple(steps[:sent]), failed=good < len(steps))

    # -- repair --------------------------------------------------------------------------------
    def fix(self, task: Task[Question], steps: Sequence[str], report: Verification) -> list[str] | None:
        return correct(_question(task), steps)

    def patch_request(
        self, request: ChatRequest, task: Task[Question], steps: Sequence[str], report: Verification
    ) -> BackendRequest:
        keep = _kept(steps, report)
        if not keep:
            return self.fresh_request(request, task)  # nothing verified to build on: ask as on a miss
        prefix = "\n".join(f"{i}. {s}" for i, s in enumerate(steps[:keep], 1))
        ask = (
            f"Problem:\n{str(task.data['question']).strip()}\n\n"
            f"Checked steps:\n{prefix}\n\n"
            f"Continue the solution from step {keep + 1}; do not repeat the steps above."
        )
        messages = ({"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask})
        budget = PATCH_MAX_TOKENS if request.max_tokens is None else min(request.max_tokens, PATCH_MAX_TOKENS)
        return BackendRequest(messages=messages, model=request.model, max_tokens=budget)

    def stitch(self, task: Task[Question], steps: Sequence[str], report: Verification, text: str) -> list[str]:
        # One answer in one form: the kept lines and the continuation both plain (no list numbers,
        # markdown or LaTeX), so a stitched answer never reads "2. 3. 1." or mixes notations.
        prefix = [plain_line(s) for s in steps[: _kept(steps, report)]]
        seen = {_plain(s) for s in prefix}
        return prefix + [p for p in map(plain_line, self.segment(task, text)) if p and _plain(p) not in seen]

    # -- audit ---------------------------------------------------------------------------------
    def same_answer(self, task: Task[Question], served: Sequence[str], fresh: Sequence[str]) -> bool | None:
        values = [final_answer([read_line(s) for s in steps]) for steps in (served, fresh)]
        return values[0] is not None and values[0] == values[1]


def _converts_units(prov: Sequence[Any]) -> bool:
    return any(src[0] == "c" and src[1] not in _UNITLESS for line in prov for number in line for src in number)


def _kept(steps: Sequence[str], report: Verification) -> int:
    first = report.first_failure
    return len(steps) if first is None else min(first, len(steps))


def _plain(step: str) -> str:
    return re.sub(r"\s+", "", step).lower()


def final_value(steps: Sequence[str]) -> Fraction | None:
    """The final answer a solution states (for tests and the benchmark)."""
    return final_answer([read_line(s) for s in steps])
