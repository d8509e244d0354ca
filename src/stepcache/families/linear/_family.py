"""LinearFamily: the Family seam for "solve this linear equation" requests."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, ClassVar

from ..._exceptions import StoreError
from ..._types import BackendRequest, ChatRequest, Entry, StepCheck, Verification
from .._base import Family, Prefix, Task
from . import _adapt
from ._parse import normalise, strip_numbering
from ._present import Presentation, render_answer
from ._problem import Problem, check_step, final_value, format_error, problem_from_data, render_value
from ._read import Reading, read_request
from ._solve import solve_steps

__all__ = ["LinearFamily"]

#: Token budget of one repair round. A correct continuation is a few short equations (the fallback
#: writes at most ~8 lines of ~10 tokens); a model that rambles past this is cut off, fails
#: verification and leaves the answer to the next round or the deterministic fallback. Without the cap
#: each failed round could spend a whole generation, which is what set StepCache's p95.
PATCH_MAX_TOKENS = 160

_FORMAT_HINT = {
    "default": "an integer, or a reduced fraction a/b when the solution is not a whole number",
    "fraction": "a reduced fraction a/b (an integer when the solution is a whole number)",
    "decimal": "an exact decimal such as 3.25 (a reduced fraction a/b when the decimal does not terminate)",
}
_FENCE = re.compile(r"^\s*```")
_BULLET = re.compile(r"^\s*[*\u2022]\s+")


def _reading(task: Task[Reading]) -> Reading:
    return task.parsed


def _problem(task: Task[Reading]) -> Problem:
    return _reading(task).problem


def _task(reading: Reading) -> Task[Reading]:
    problem, presentation = reading.problem, reading.presentation
    # Any presentation adapts (the final line is re-rendered, the rest is presentation), except
    # explained steps: their prose cannot be written from bare equations, nor should it be dropped.
    style = "|explained" if presentation.explain else ""
    return Task(
        family=LinearFamily.name,
        data={**problem.to_data(), "presentation": presentation.to_data()},
        signature=f"linear|{problem.template}{style}",
        parsed=reading,
    )


def _system_prompt(reading: Reading) -> str:
    problem, presentation = reading.problem, reading.presentation
    v = problem.var
    each = (
        "each line a few words saying what you do, then a colon and a single equation equivalent to "
        f'the original one (for example "2. Subtract 5 from both sides: 3{v} = 15")'
        if presentation.explain
        else f'each line a single equation equivalent to the original one (for example "2. 3{v} = 20 - 5"). '
        "No explanations"
    )
    text = (
        f"Solve the linear equation for {v} step by step.\n"
        f"Answer with a numbered list and nothing else: one step per line, {each}.\n"
        f'The last line must be exactly "N. {v} = <value>" where <value> is {_FORMAT_HINT[problem.fmt]}.'
    )
    if not presentation.default:
        text += (
            f"\nWrite the steps this way even though the final answer is to be shown as {presentation.describe()}: "
            "that presentation is applied to your last line afterwards."
        )
    return text


def _same(a: str, b: str) -> bool:
    return re.sub(r"\s+", "", normalise(a)) == re.sub(r"\s+", "", normalise(b))


class LinearFamily(Family[Reading]):
    """Linear equations in one variable: exact checks, adaptation by formula, a guaranteed fallback."""

    name: ClassVar[str] = "linear"
    priority: ClassVar[int] = 10

    def __init__(self, max_repairs: int = 1) -> None:
        self.max_repairs = max_repairs

    # -- recognise -----------------------------------------------------------------------------
    def detect(self, request: ChatRequest) -> Task[Reading] | None:
        reading = read_request(request)
        return None if reading is None else _task(reading)

    def load_task(self, data: Mapping[str, Any]) -> Task[Reading]:
        try:
            return _task(Reading(problem_from_data(data), Presentation.from_data(data.get("presentation"))))
        except (KeyError, ValueError, TypeError) as exc:
            raise StoreError(f"cached linear task cannot be read ({exc}); delete the entry or clear the cache") from exc

    # -- generate ------------------------------------------------------------------------------
    def fresh_request(self, request: ChatRequest, task: Task[Reading]) -> BackendRequest:
        # The caller's system prompt is kept and ours follows it: the steps must come in our form to be
        # verified, and the caller's presentation is honoured when the verified steps are rendered.
        system = _system_prompt(_reading(task))
        if request.system.strip():
            system = f"{request.system.strip()}\n\n{system}"
        messages = [{"role": "system", "content": system}]
        messages += [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"]
        return BackendRequest(messages=tuple(messages), model=request.model, max_tokens=request.max_tokens)

    def segment(self, task: Task[Reading], text: str) -> list[str]:
        lines = [line.strip() for line in text.splitlines()]
        lines = [line for line in lines if line and not _FENCE.match(line)]
        if len(lines) > 1 and all(line.startswith("- ") for line in lines):
            lines = [line[2:] for line in lines]  # a markdown bullet list, not minus signs
        steps = []
        for line in lines:
            step = strip_numbering(_BULLET.sub("", line.replace("**", ""))).strip()
            if step:
                steps.append(step)
        return _adapt.without_repeats(steps)  # a line said twice is one step

    def render(self, task: Task[Reading], steps: Sequence[str]) -> str:
        reading = _reading(task)
        problem = reading.problem
        if not steps or reading.presentation.default:
            return "\n".join(f"{i}. {step}" for i, step in enumerate(steps, 1))
        exact = render_value(problem.solution, problem.fmt)
        return render_answer(reading.presentation, problem.var, problem.solution, exact, steps)

    # -- reuse ---------------------------------------------------------------------------------
    def prepare(self, task: Task[Reading], steps: Sequence[str], source: Entry | None = None) -> dict[str, Any]:
        return _adapt.prepare(_problem(task), steps)

    def adapt(self, entry: Entry, cached: Task[Reading], task: Task[Reading]) -> list[str] | None:
        old, new = _problem(cached), _problem(task)
        prepared = entry.prepared
        if prepared.get("version") != _adapt.PREPARED_VERSION or prepared.get("var") != old.var:
            prepared = _adapt.prepare(old, entry.steps)
        return _adapt.adapt(prepared, old, new)

    def verify(self, task: Task[Reading], steps: Sequence[str]) -> Verification:
        problem = _problem(task)
        checks = _step_checks(problem, steps)
        problems: list[str] = []
        final = final_value(problem, steps[-1]) if steps else None
        if not steps:
            problems.append("the answer is empty")
        elif final is None or final[0] != problem.var:
            problems.append(f"the last line must state the answer as '{problem.var} = <value>'")
        elif checks[-1].ok:
            reason = format_error(problem, final[1])
            if reason:
                checks[-1] = StepCheck(len(steps) - 1, False, reason)
        if len(steps) == 1 and checks[0].ok and _reading(task).presentation.answer == "steps":
            # A lone "x = 5" is right but is not the derivation the caller asked to see (the model may
            # have followed another caller's "final number only"): regenerate it whole.
            checks[0] = StepCheck(0, False, "a lone final line does not show the steps")
        return Verification(tuple(checks), tuple(problems))

    def verify_prefix(self, task: Task[Reading], text: str) -> Prefix | None:
        """The complete lines' steps that hold, in order, as :meth:`render` numbers them. Only for
        the default presentation: another one (a format line, "final number only") is written
        around the whole answer, so nothing can be sent before it is complete."""
        if not _reading(task).presentation.default:
            return None
        steps = self.segment(task, text)
        if text.lstrip().startswith("- "):
            return Prefix("")  # a bullet list is read whole (see segment): wait for its end
        problem = _problem(task)
        checks = _step_checks(problem, steps)
        good = next((c.index for c in checks if not c.ok), len(steps))
        # The answer line ("x = 5") is held back, right or not: the rules about the last line
        # (its format; not a lone answer) are judged on the whole answer, and a repair may rewrite it.
        held = next(
            (i for i, step in enumerate(steps) if (final := final_value(problem, step)) and final[0] == problem.var),
            good,
        )
        sent = min(good, held)
        return Prefix(self.render(task, steps[:sent]), tuple(steps[:sent]), failed=good < len(steps))

    # -- repair --------------------------------------------------------------------------------
    def patch_request(
        self, request: ChatRequest, task: Task[Reading], steps: Sequence[str], report: Verification
    ) -> BackendRequest:
        problem = _problem(task)
        keep = _kept(steps, report)
        prefix = "\n".join(f"{i}. {s}" for i, s in enumerate(steps[:keep], 1))
        ask = (
            f"Problem:\n{request.prompt.strip()}\n\n"
            + (f"These first {keep} steps are already checked and correct:\n{prefix}\n\n" if keep else "")
            + f"Continue the solution from step {keep + 1}, one equation per line, numbered from {keep + 1}, "
            f"ending with the line '{problem.var} = <value>'. Do not repeat the steps above."
        )
        messages = ({"role": "system", "content": _system_prompt(_reading(task))}, {"role": "user", "content": ask})
        budget = PATCH_MAX_TOKENS if request.max_tokens is None else min(request.max_tokens, PATCH_MAX_TOKENS)
        return BackendRequest(messages=messages, model=request.model, max_tokens=budget)

    def stitch(self, task: Task[Reading], steps: Sequence[str], report: Verification, text: str) -> list[str]:
        prefix = list(steps[: _kept(steps, report)])
        continuation = [s for s in self.segment(task, text) if not any(_same(s, p) for p in prefix)]
        return _adapt.without_repeats(prefix + continuation)

    def fallback(self, task: Task[Reading]) -> list[str] | None:
        return solve_steps(_problem(task))

    # -- audit ---------------------------------------------------------------------------------
    def same_answer(self, task: Task[Reading], served: Sequence[str], fresh: Sequence[str]) -> bool | None:
        """Both answers end with the same value for the variable (read exactly, any spelling)."""
        problem = _problem(task)
        values = [_final_fraction(problem, steps) for steps in (served, fresh)]
        if values[0] is None or values[1] is None:
            return False
        return values[0] == values[1]


def _final_fraction(problem: Problem, steps: Sequence[str]) -> Fraction | None:
    final = final_value(problem, steps[-1]) if steps else None
    if final is None or final[0] != problem.var:
        return None
    try:
        return Fraction(final[1])
    except (ValueError, ZeroDivisionError):
        return None


def _kept(steps: Sequence[str], report: Verification) -> int:
    """How many leading steps survive a patch: all before the first failing one (all, if none fails)."""
    first = report.first_failure
    return len(steps) if first is None else min(first, len(steps))


def _step_checks(problem: Problem, steps: Sequence[str]) -> list[StepCheck]:
    """Each step checked on its own (an equation the solution satisfies) and against repeats; the
    rules about the answer as a whole (its last line) are :meth:`LinearFamily.verify`'s."""
    checks: list[StepCheck] = []
    seen: dict[str, int] = {}
    for i, step in enumerate(steps):
        key = _adapt.step_key(step)
        reason = check_step(problem.var, problem.solution, step)
        if not reason and key in seen:
            # A repeated line is not a step; a served answer must read as one derivation.
            reason = f"repeats step {seen[key] + 1}"
        seen.setdefault(key, i)
        checks.append(StepCheck(i, not reason, reason))
    return checks
