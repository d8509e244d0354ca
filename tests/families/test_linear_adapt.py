"""LinearFamily.prepare/adapt: a cached answer re-derived for new constants, names and formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
from linear_harness import task_for

from stepcache._types import Entry, Scope
from stepcache.families.linear import LinearFamily


@pytest.fixture
def family() -> LinearFamily:
    return LinearFamily()


def cache(family: LinearFamily, prompt: str, answer: str) -> Entry:
    """What the engine stores after a verified fresh answer (round-tripped through JSON like a store)."""
    task = task_for(family, prompt)
    steps = family.segment(task, answer)
    assert family.verify(task, steps).ok, family.verify(task, steps).summary()
    prepared = json.loads(json.dumps(family.prepare(task, steps)))
    return Entry(
        key="k",
        scope=Scope("default", "tiny", "linear"),
        signature=task.signature,
        prompt=prompt,
        task=json.loads(json.dumps(dict(task.data))),
        steps=tuple(steps),
        text=answer,
        embedding=np.zeros(4, dtype=np.float32),
        prepared=prepared,
    )


def reuse(family: LinearFamily, entry: Entry, prompt: str) -> list[str]:
    task = task_for(family, prompt)
    steps = family.adapt(entry, family.load_task(entry.task), task)
    assert steps is not None  # linear -> linear never skips
    report = family.verify(task, steps)
    assert report.ok, (steps, report.summary())
    return steps


# Answers written the way a small model writes them.
CASES = [
    (
        "Solve 3x + 5 = 20",
        "1. 3x + 5 = 20\n2. 3x = 20 - 5\n3. 3x = 15\n4. x = 15/3\n5. x = 5",
        ["Solve 4x + 7 = 31", "Solve for q: 7q + 2 = 9", "Solve 2x + 5 = 20", "Solve 3x + 9 = 2"],
    ),
    (
        "Solve for y: 4(y - 2) + 6 = 30",
        "1. 4(y - 2) + 6 = 30\n2. 4(y - 2) = 30 - 6\n3. 4(y - 2) = 24\n4. y - 2 = 24/4\n5. y - 2 = 6\n"
        "6. y = 6 + 2\n7. y = 8",
        ["Solve for z: 5(z - 3) + 4 = 49", "Solve for y: 3(y - 7) + 2 = 10"],
    ),
    (
        "Find x: x/4 + 3 = 9",
        "Step 1: x/4 + 3 = 9\nStep 2: Subtract 3 from both sides: x/4 = 6\nStep 3: Multiply both sides by 4: x = 24",
        ["Find m: m/5 + 2 = 9", "Find x: x/6 + 8 = 3"],
    ),
    (
        "Solve 3p + 12 = 2p + 38",
        "1. 3p + 12 = 2p + 38\n2. 3p - 2p = 38 - 12\n3. p = 26",
        ["Solve 5a + 4 = 3a + 20", "Solve 7p + 1 = 2p + 3"],
    ),
    (
        "Solve (2t + 1)/3 = 5",
        "1. (2t + 1)/3 = 5\n2. 2t + 1 = 15\n3. 2t = 14\n4. t = 7",
        ["Solve (3t + 2)/4 = 5", "Solve (2w + 5)/7 = 3"],
    ),
    (
        "Solve 18 - 4n = 2",
        "1. 18 - 4n = 2\n2. -4n = 2 - 18\n3. -4n = -16\n4. n = -16/-4\n5. n = 4",
        ["Solve 20 - 3n = 5", "Solve 9 - 2b = 14"],
    ),
    (
        "Solve 2x + 4 = 10",  # 6 is both 10 - 4 and 2 + 4: only the first survives new constants
        "1. 2x + 4 = 10\n2. 2x = 10 - 4\n3. 2x = 6\n4. x = 3",
        ["Solve 3x + 5 = 20", "Solve 5u + 1 = 2"],
    ),
    (
        "Solve 0.5k + 1.5 = 4",
        "1. 0.5k + 1.5 = 4\n2. 0.5k = 4 - 1.5\n3. 0.5k = 2.5\n4. k = 2.5/0.5\n5. k = 5",
        ["Solve 0.25k + 1.5 = 4", "Solve 0.5k + 1.5 = 4.25"],
    ),
    (
        "Solve 2(x+1) = x - 4",
        "1. 2(x + 1) = x - 4\n2. 2x + 2 = x - 4\n3. 2x - x = -4 - 2\n4. x = -6",
        ["Solve 3(x+2) = x - 8", "Solve 5(r+1) = r - 3"],
    ),
]


@pytest.mark.parametrize(("cached", "answer", "variants"), CASES, ids=[c[0] for c in CASES])
def test_constant_changes_and_renames_verify_after_adapt(
    family: LinearFamily, cached: str, answer: str, variants: list[str]
) -> None:
    entry = cache(family, cached, answer)
    for prompt in variants:
        steps = reuse(family, entry, prompt)
        assert len(set(steps)) == len(steps)  # no line served twice
        # only a line that new constants make read like its successor (x = 15/2, x = 15/2) goes
        assert len(steps) in (len(entry.steps), len(entry.steps) - 1)


def test_adapt_rewrites_numbers_in_prose_and_renames_only_the_variable(family: LinearFamily) -> None:
    entry = cache(family, "Find x: x/4 + 3 = 9", "Subtract 3 from both sides: x/4 = 6\nNext, multiply by 4: x = 24")
    steps = reuse(family, entry, "Find n: n/5 + 2 = 9")
    assert steps == ["Subtract 2 from both sides: n/5 = 7", "n = 35"]
    entry = cache(family, "Solve 3x + 5 = 20", "First, subtract 5 from each side: 3x = 15\nNext, divide by 3.\nx = 5")
    steps = reuse(family, entry, "Solve 4t + 2 = 10")
    assert steps == ["First, subtract 2 from each side: 4t = 8", "Next, divide by 4.", "t = 2"]


def test_adapt_fixes_signs_and_coefficients_of_one(family: LinearFamily) -> None:
    entry = cache(family, "Solve 3x + 5 = 20", "1. 3x + 5 = 20\n2. 3x = 20 - 5\n3. 3x = 15\n4. x = 15/3\n5. x = 5")
    steps = reuse(family, entry, "Solve 1x + 9 = 2")
    assert steps == ["x + 9 = 2", "x = 2 - 9", "x = -7/1", "x = -7"]  # "x = -7" is said once, last
    entry = cache(family, "Solve 2x - 3 = 5", "2x - 3 = 5\n2x = 5 + 3\n2x = 8\nx = 4")
    steps = reuse(family, entry, "Solve 2x - 9 = -1")
    assert "2x = 8" in steps and not any("--" in s or "+ -" in s or "- -" in s for s in steps)


def test_adapt_renders_fractions_so_they_still_parse(family: LinearFamily) -> None:
    entry = cache(family, "Solve 4x + 2 = 10", "4x + 2 = 10\n4x = 8\nx = 8/4\nx = 2")
    steps = reuse(family, entry, "Solve 4x + 2 = 5")
    assert steps[-1] == "x = 3/4"
    assert steps[1] == "4x = 3"


def test_format_change_rerenders_the_final_line(family: LinearFamily) -> None:
    entry = cache(family, "Solve 2x + 1 = 8", "1. 2x + 1 = 8\n2. 2x = 7\n3. x = 7/2")
    assert reuse(family, entry, "Solve 2x + 1 = 8 and give a decimal")[-1] == "x = 3.5"
    assert reuse(family, entry, "Solve 2x + 1 = 8 as a fraction")[-1] == "x = 7/2"
    decimal = cache(family, "Solve 2x + 1 = 8 as a decimal", "1. 2x + 1 = 8\n2. 2x = 7\n3. x = 3.5")
    assert reuse(family, decimal, "Solve 2x + 1 = 8")[-1] == "x = 7/2"
    assert reuse(family, decimal, "Solve 4x + 1 = 8 as a decimal")[-1] == "x = 1.75"


def test_a_different_equation_shape_is_only_renamed_and_then_rejected(family: LinearFamily) -> None:
    entry = cache(family, "Solve 3x + 5 = 20", "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5")
    task = task_for(family, "Solve 3(y + 5) = 20")
    steps = family.adapt(entry, family.load_task(entry.task), task)
    assert steps == ["3y + 5 = 20", "3y = 15", "y = 5"]
    report = family.verify(task, steps)
    assert not report.ok and report.first_failure == 0


def test_adapt_works_without_prepared_data(family: LinearFamily) -> None:
    entry = cache(family, "Solve 3x + 5 = 20", "1. 3x + 5 = 20\n2. 3x = 20 - 5\n3. 3x = 15\n4. x = 5")
    bare = Entry(**{**{f: getattr(entry, f) for f in entry.__slots__}, "prepared": {}})  # type: ignore[arg-type]
    assert reuse(family, bare, "Solve 6x + 1 = 13") == ["6x + 1 = 13", "6x = 13 - 1", "6x = 12", "x = 2"]


def test_prepared_data_is_json(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    prepared = family.prepare(task, ["3x + 5 = 20", "3x = 15", "x = 5"])
    assert json.loads(json.dumps(prepared)) == prepared
    assert prepared["template"] == "#v + # = #"


def test_a_check_line_that_cannot_be_pinned_down_is_dropped_not_served_stale(family: LinearFamily) -> None:
    answer = "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5\nCheck: 3(5) + 5 = 15 + 5 = 20\nx = 5"
    entry = cache(family, "Solve 3x + 5 = 20", answer)
    assert reuse(family, entry, "Solve 3x + 5 = 20") == list(entry.steps)  # same constants: kept
    steps = reuse(family, entry, "Solve 4y + 7 = 31")
    assert steps == ["4y + 7 = 31", "4y = 24", "y = 6"]  # and the model's repeated final line is said once
    entry = cache(family, "Solve 3x + 5 = 20", "1. 3x + 5 = 20\n2. 3x = 15\nCheck: 3(5) + 5 = 15 + 5 = 20\nx = 5")
    assert reuse(family, entry, "Solve 4y + 7 = 31") == ["4y + 7 = 31", "4y = 24", "y = 6"]  # not 4(7) + 7 = 35


def test_model_style_answer_with_latex_and_prose(family: LinearFamily) -> None:
    answer = (
        "To solve the equation 3x + 5 = 20, we need to isolate x.\n\n"
        "**Step 1:** Subtract 5 from both sides:\n\\( 3x + 5 - 5 = 20 - 5 \\)\n\\( 3x = 15 \\)\n\n"
        "**Step 2:** Divide both sides by 3:\n$$x = \\frac{15}{3} = 5$$\n\n**Final answer:** x = 5"
    )
    entry = cache(family, "Solve 3x + 5 = 20", answer)
    steps = reuse(family, entry, "Solve 4y + 7 = 31")
    assert steps[0] == "To solve the equation 4y + 7 = 31, we need to isolate y."
    assert "y = (24)/(4) = 6" in steps and steps[-1] == "y = 6"


def test_a_middle_line_that_collapses_into_the_final_line_is_said_once(family: LinearFamily) -> None:
    # x = 40/5 then x = 8: with constants whose solution is not whole both lines read t = 73/5
    answer = "1. 5(t - 7) + 8 = 43\n2. 5t - 35 + 8 = 43\n3. 5t - 27 = 43\n4. 5t = 43 + 27\n5. 5t = 70\n6. t = 70/5\n7. t = 14"
    entry = cache(family, "Solve for t: 5(t - 7) + 8 = 43", answer)
    steps = reuse(family, entry, "Solve for t: 5(t - 7) + 8 = 46")
    assert steps == ["5(t - 7) + 8 = 46", "5t - 35 + 8 = 46", "5t - 27 = 46", "5t = 46 + 27", "5t = 73", "t = 73/5"]
    # a whole-number solution keeps both lines: they differ
    assert reuse(family, entry, "Solve for t: 5(t - 7) + 8 = 48")[-2:] == ["t = 75/5", "t = 15"]


def test_a_step_that_skips_ahead_to_the_net_form_adapts(family: LinearFamily) -> None:
    # "2p = 26" is no single operation on 2, 2, 2, 24: it is the net form A·p = B of the equation
    entry = cache(family, "Solve for p: 2(p - 2) + 2 = 24", "1. 2(p - 2) + 2 = 24\n2. 2p = 26\n3. p = 13")
    assert reuse(family, entry, "Solve for n: 3(n - 5) + 2 = 14") == ["3(n - 5) + 2 = 14", "3n = 27", "n = 9"]
