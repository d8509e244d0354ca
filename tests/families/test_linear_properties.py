"""Property tests: the fallback is always right and checkable, the checker catches altered numbers,
and a fallback-written answer adapts to any other constants of the same form."""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stepcache._types import ChatRequest, Entry, Scope
from stepcache.families import Task
from stepcache.families.linear import LinearFamily

FAMILY = LinearFamily()
SETTINGS = settings(max_examples=150, deadline=None)

small = st.integers(min_value=1, max_value=40)
letters = st.sampled_from("abcdefghjkmnpqrstuvwxyzABXYZ")
formats = st.sampled_from(["default", "fraction", "decimal"])

# form name -> (equation template, exact solution from the constants a, b, c, d)
FORMS = {
    "ax+b=c": ("{a}{v} + {b} = {c}", lambda a, b, c, d: Fraction(c - b, a)),
    "a(x-b)+c=d": ("{a}({v} - {b}) + {c} = {d}", lambda a, b, c, d: Fraction(d - c, a) + b),
    "x/a+b=c": ("{v}/{a} + {b} = {c}", lambda a, b, c, d: Fraction((c - b) * a)),
    "(ax+b)/c=d": ("({a}{v} + {b})/{c} = {d}", lambda a, b, c, d: Fraction(d * c - b, a)),
    "ax+b=cx+d": ("{a}{v} + {b} = {c}{v} + {d}", lambda a, b, c, d: Fraction(d - b, a - c)),
    "b-ax=c": ("{b} - {a}{v} = {c}", lambda a, b, c, d: Fraction(b - c, a)),
    "a(x+b)=x-c": ("{a}({v} + {b}) = {v} - {c}", lambda a, b, c, d: Fraction(-c - a * b, a - 1)),
    "a.5x+b=c": ("{a}.5{v} + {b} = {c}", lambda a, b, c, d: Fraction(c - b) / (a + Fraction(1, 2))),
}
SUFFIX = {"default": "", "fraction": " Give the answer as a fraction.", "decimal": " Give the answer as a decimal."}


def expected_text(value: Fraction, fmt: str) -> str:
    """The answer as a person would write it, computed without the family's helpers."""
    if value.denominator == 1:
        return str(value.numerator)
    d = value.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if fmt == "decimal" and d == 1:
        with localcontext() as ctx:
            ctx.prec = 50
            return format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return f"{value.numerator}/{value.denominator}"


@st.composite
def problems(draw: st.DrawFn, form: str | None = None) -> tuple[str, str, Fraction, str, dict[str, int]]:
    name = form or draw(st.sampled_from(sorted(FORMS)))
    template, solve = FORMS[name]
    k = {"a": draw(small), "b": draw(small), "c": draw(small), "d": draw(small)}
    if name == "ax+b=cx+d":
        assume(k["a"] != k["c"])
    if name == "a(x+b)=x-c":
        assume(k["a"] != 1)
    var = draw(letters)
    fmt = draw(formats)
    prompt = f"Solve for {var}: " + template.format(v=var, **k) + "." + SUFFIX[fmt]
    return prompt, var, solve(**k), fmt, k


def detect(prompt: str) -> Task:
    task = FAMILY.detect(ChatRequest.model_validate({"messages": [{"role": "user", "content": prompt}]}))
    assert task is not None, prompt
    return task


@SETTINGS
@given(problems())
def test_fallback_is_exactly_right_and_every_step_verifies(
    case: tuple[str, str, Fraction, str, dict[str, int]],
) -> None:
    prompt, var, solution, fmt, _ = case
    task = detect(prompt)
    assert task.data["variable"] == var
    steps = FAMILY.fallback(task)
    assert steps is not None
    assert steps[-1] == f"{var} = {expected_text(solution, fmt)}"
    report = FAMILY.verify(task, steps)
    assert report.ok, (steps, report.summary())


@SETTINGS
@given(problems(), st.data())
def test_one_altered_number_fails_verification(
    case: tuple[str, str, Fraction, str, dict[str, int]], data: st.DataObject
) -> None:
    prompt, _, solution, _, k = case
    # Non-degenerate problems only: when a side is 0 at the solution, scaling it by a different
    # number leaves the solution set unchanged (and the altered step really is still correct).
    assume(solution != 0 and k["c"] != k["d"] and len(set(k.values())) == 4)
    task = detect(prompt)
    steps = FAMILY.fallback(task)
    assert steps is not None
    index = data.draw(st.integers(0, len(steps) - 1), label="step")
    numbers = list(re.finditer(r"\d+", steps[index]))
    assume(numbers)
    m = data.draw(st.sampled_from(numbers), label="number")
    altered = steps[index][: m.start()] + str(int(m.group()) + 1) + steps[index][m.end() :]
    changed = [*steps[:index], altered, *steps[index + 1 :]]
    report = FAMILY.verify(task, changed)
    assert not report.ok, (changed, index)
    assert index in report.failing


@SETTINGS
@given(st.sampled_from(sorted(FORMS)).flatmap(lambda f: st.tuples(problems(f), problems(f))))
def test_a_cached_fallback_answer_adapts_to_new_constants_and_names(
    pair: tuple[tuple[str, str, Fraction, str, dict[str, int]], ...],
) -> None:
    (old_prompt, _, _, _, old_k), (new_prompt, new_var, solution, fmt, _) = pair
    # The cached instance is a generic one: with a coefficient of 1, two equal constants or terms
    # that cancel, the fallback legitimately writes fewer numbers than the form has, and a line
    # that omits a number cannot be re-derived for other constants (verification then rejects it).
    assume(min(old_k.values()) >= 2 and len(set(old_k.values())) == 4)
    assume(old_k["a"] * old_k["b"] != old_k["c"])  # 2(x - 3) + 6: the constants cancel, "2x = 4"
    # A new solution of 0 (a + 1 = 1) makes coincidental formulas (1 = 5 - 4 or "one") differ from
    # the intended ones: the adapted answer then fails verification and is patched — safe, but not
    # the reuse this test measures. Known limit of one-operation formulas.
    assume(pair[1][2] != 0)
    cached = detect(old_prompt)
    steps = FAMILY.fallback(cached)
    assert steps is not None
    entry = Entry(
        key="k",
        scope=Scope("default", "m", "linear"),
        signature=cached.signature,
        prompt=old_prompt,
        task=dict(cached.data),
        steps=tuple(steps),
        text=FAMILY.render(cached, steps),
        embedding=np.zeros(2, dtype=np.float32),
        prepared=FAMILY.prepare(cached, steps),
    )
    task = detect(new_prompt)
    adapted = FAMILY.adapt(entry, FAMILY.load_task(entry.task), task)
    assert adapted is not None
    assert adapted[-1] == f"{new_var} = {expected_text(solution, fmt)}"
    report = FAMILY.verify(task, adapted)
    assert report.ok, (steps, adapted, report.summary())
