"""LinearFamily: segmenting, verifying, repairing and the deterministic fallback."""

from __future__ import annotations

import pytest
from linear_harness import ask, task_for

from stepcache._types import ChatRequest, Verification
from stepcache.families.linear import LinearFamily


@pytest.fixture
def family() -> LinearFamily:
    return LinearFamily()


GOOD = ["3x + 5 = 20", "3x = 20 - 5", "3x = 15", "x = 15/3", "x = 5"]


def test_family_settings() -> None:
    assert LinearFamily.name == "linear"
    assert LinearFamily.priority == 10
    assert LinearFamily().max_repairs == 1
    assert LinearFamily(max_repairs=3).max_repairs == 3


# -- segment / render --------------------------------------------------------------------------
def test_segment_strips_numbering_fences_and_blank_lines(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    text = "```\n1. 3x + 5 = 20\n\n2) 3x = 15\nStep 3: x = 15/3\n**4.** x = 5\n```"
    assert family.segment(task, text) == ["3x + 5 = 20", "3x = 15", "x = 15/3", "x = 5"]


def test_segment_keeps_prose_lines_and_plain_lines(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    text = "Subtract 5 from both sides: 3x = 15\nDivide by 3.\nx = 5"
    assert family.segment(task, text) == ["Subtract 5 from both sides: 3x = 15", "Divide by 3.", "x = 5"]
    assert family.segment(task, "") == []


def test_segment_reads_a_bullet_list_as_steps_not_minus_signs(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    assert family.segment(task, "- 3x = 15\n- x = 5") == ["3x = 15", "x = 5"]
    assert family.segment(task, "-3x = -15\nx = 5") == ["-3x = -15", "x = 5"]


def test_render_numbers_the_steps(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    assert family.render(task, ["3x = 15", "x = 5"]) == "1. 3x = 15\n2. x = 5"
    assert family.segment(task, family.render(task, GOOD)) == GOOD


# -- verify ------------------------------------------------------------------------------------
def test_verify_accepts_a_correct_solution(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    report = family.verify(task, GOOD)
    assert report.ok, report.summary()
    assert [s.index for s in report.steps] == [0, 1, 2, 3, 4]


def test_verify_accepts_prose_chains_and_arithmetic(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    steps = [
        "Subtract 5 from both sides.",
        "3x = 20 - 5 = 15",
        "Check: 20 - 5 = 15",
        "x = 15/3 = 5",
        "So, the answer is x = 5.",
    ]
    assert family.verify(task, steps).ok


@pytest.mark.parametrize(
    ("bad", "index", "reason"),
    [
        ("3x = 16", 2, "gives x = 16/3"),  # an altered number
        ("3x = 3x", 2, "true for every x"),  # an identity says nothing
        ("0x = 4", 2, "no solution"),
        ("20 - 5 = 16", 2, "false arithmetic"),
        ("3x + y = 15", 2, "unknown symbol"),
        ("x^2 = 25", 2, "not linear"),
        ("x = ", 2, "cannot read"),
        ("So the answer is 6", 2, "states a value"),
        ("x \u2248 3.3", 2, "states a value"),
    ],
)
def test_verify_rejects_a_wrong_step(family: LinearFamily, bad: str, index: int, reason: str) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    steps = [*GOOD[:2], bad, *GOOD[3:]]
    report = family.verify(task, steps)
    assert not report.ok
    assert report.first_failure == index
    assert reason in report.steps[index].reason


def test_verify_rejects_long_prose(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    essay = " ".join(["we carefully move every term to the side where it belongs"] * 3)
    assert family.verify(task, [essay, "x = 5"]).first_failure == 0


def test_verify_rejects_a_wrong_final_value(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    report = family.verify(task, [*GOOD[:-1], "x = 6"])
    assert report.failing == (4,)
    assert "x = 6" in report.steps[4].reason


def test_verify_reports_a_missing_final_line_as_a_whole_answer_problem(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    report = family.verify(task, GOOD[:3])
    assert not report.ok
    assert report.first_failure is None
    assert report.problems and "last line" in report.problems[0]
    empty = family.verify(task, [])
    assert not empty.ok and "empty" in empty.problems[0]


def test_verify_rejects_a_final_line_for_another_variable(family: LinearFamily) -> None:
    task = task_for(family, "Solve 3x + 5 = 20")
    assert not family.verify(task, [*GOOD[:-1], "y = 5"]).ok


@pytest.mark.parametrize(
    ("prompt", "final", "ok"),
    [
        ("Solve 2x = 7", "x = 7/2", True),
        ("Solve 2x = 7", "x = 3.5", False),  # default: reduced fraction
        ("Solve 2x = 7", "x = 14/4", False),  # not reduced
        ("Solve 2x = 7 as a fraction", "x = 7/2", True),
        ("Solve 2x = 7 as a decimal", "x = 3.5", True),
        ("Solve 2x = 7 as a decimal", "x = 7/2", False),
        ("Solve 3x = 1 as a decimal", "x = 1/3", True),  # 0.333... does not terminate
        ("Solve 3x = 1 as a decimal", "x = 0.33", False),
        ("Solve 2x = 10", "x = 5", True),
        ("Solve 2x = 10", "x = 5.0", False),
        ("Solve 2x = 10 as a decimal", "x = 5.0", True),
        ("Solve 2x = -7", "x = -7/2", True),
    ],
)
def test_verify_checks_the_answer_format(family: LinearFamily, prompt: str, final: str, ok: bool) -> None:
    task = task_for(family, prompt)
    assert family.verify(task, [task.data["equation"], final]).ok is ok


def test_verify_is_exact_with_decimals(family: LinearFamily) -> None:
    task = task_for(family, "Solve 0.1k + 0.2 = 0.3 as a decimal")
    assert family.verify(task, ["0.1k = 0.3 - 0.2", "0.1k = 0.1", "k = 1"]).ok
    assert not family.verify(task, ["0.1k = 0.1000001", "k = 1"]).ok


# -- fresh request -----------------------------------------------------------------------------
def test_fresh_request_asks_for_numbered_equations_and_keeps_the_callers_turns(family: LinearFamily) -> None:
    request = ChatRequest.model_validate(
        {
            "model": "tiny",
            "max_tokens": 200,
            "messages": [
                {"role": "system", "content": "You are a patient maths tutor."},
                {"role": "user", "content": "Solve for t: (2t + 1)/3 = 5 as a decimal"},
            ],
        }
    )
    task = family.detect(request)
    assert task is not None
    call = family.fresh_request(request, task)
    assert call.model == "tiny" and call.temperature == 0 and call.max_tokens == 200
    assert call.messages[0]["role"] == "system"
    system = call.messages[0]["content"]
    # the caller's system prompt comes first and survives; ours follows it
    assert system.startswith("You are a patient maths tutor.")
    assert "numbered" in system and "t = <value>" in system and "decimal" in system
    assert call.messages[1:] == ({"role": "user", "content": "Solve for t: (2t + 1)/3 = 5 as a decimal"},)


def test_a_presentation_the_family_cannot_write_is_left_to_generic(family: LinearFamily) -> None:
    request = ChatRequest.model_validate(
        {
            "messages": [
                {"role": "system", "content": "Answer in one sentence."},
                {"role": "user", "content": "Solve for t: (2t + 1)/3 = 5"},
            ],
        }
    )
    assert family.detect(request) is None


# -- patch / stitch ----------------------------------------------------------------------------
def test_patch_regenerates_from_the_first_failing_step(family: LinearFamily) -> None:
    request = ask("Solve 3x + 5 = 20")
    task = task_for(family, "Solve 3x + 5 = 20")
    steps = ["3x + 5 = 20", "3x = 20 - 5", "3x = 16", "x = 16/3"]
    report = family.verify(task, steps)
    assert report.first_failure == 2
    call = family.patch_request(request, task, steps, report)
    user = call.messages[-1]["content"]
    assert "Solve 3x + 5 = 20" in user
    assert "1. 3x + 5 = 20\n2. 3x = 20 - 5" in user
    assert "3x = 16" not in user  # the failing region is not shown as correct
    assert "step 3" in user and "x = <value>" in user
    reply = "1. 3x + 5 = 20\n2. 3x = 20 - 5\n3. 3x = 15\n4. x = 5"  # the model repeats the prefix
    stitched = family.stitch(task, steps, report, reply)
    assert stitched == ["3x + 5 = 20", "3x = 20 - 5", "3x = 15", "x = 5"]
    assert family.verify(task, stitched).ok


def test_patch_continues_after_all_steps_when_only_the_final_line_is_missing(family: LinearFamily) -> None:
    request = ask("Solve 3x + 5 = 20")
    task = task_for(family, "Solve 3x + 5 = 20")
    steps = ["3x + 5 = 20", "3x = 15"]
    report = family.verify(task, steps)
    assert report.first_failure is None and not report.ok
    call = family.patch_request(request, task, steps, report)
    assert "1. 3x + 5 = 20\n2. 3x = 15" in call.messages[-1]["content"]
    assert "step 3" in call.messages[-1]["content"]
    stitched = family.stitch(task, steps, report, "3. x = 5")
    assert stitched == ["3x + 5 = 20", "3x = 15", "x = 5"]
    assert family.verify(task, stitched).ok


def test_patch_of_a_wrong_first_step_regenerates_everything(family: LinearFamily) -> None:
    request = ask("Solve 3x + 5 = 20")
    task = task_for(family, "Solve 3x + 5 = 20")
    steps = ["3x + 5 = 21", "x = 5"]
    report = family.verify(task, steps)
    call = family.patch_request(request, task, steps, report)
    assert "already checked" not in call.messages[-1]["content"]
    assert family.stitch(task, steps, report, "1. 3x = 15\n2. x = 5") == ["3x = 15", "x = 5"]


# -- fallback ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prompt", "final"),
    [
        ("Solve 3x + 5 = 20", "x = 5"),
        ("Solve for y: 4(y - 2) + 6 = 30", "y = 8"),
        ("Find x: x/4 + 3 = 9", "x = 24"),
        ("Solve (2t + 1)/3 = 5", "t = 7"),
        ("Solve 3p + 12 = 2p + 38", "p = 26"),
        ("Solve 0.5k + 1.5 = 4", "k = 5"),
        ("Solve 18 - 4n = 2", "n = 4"),
        ("Solve 2(x+1) = x - 4", "x = -6"),
        ("Solve 2x = 7", "x = 7/2"),
        ("Solve 2x = 7 as a decimal", "x = 3.5"),
        ("Solve 3x = 1 as a decimal", "x = 1/3"),
        ("Solve (2/3)z + 1/4 = 5", "z = 57/8"),
    ],
)
def test_fallback_writes_a_verified_solution(family: LinearFamily, prompt: str, final: str) -> None:
    task = task_for(family, prompt)
    steps = family.fallback(task)
    assert steps is not None
    report: Verification = family.verify(task, steps)
    assert report.ok, (steps, report.summary())
    assert steps[0] == task.data["equation"]
    assert steps[-1] == final
    assert len(steps) == len(set(steps))  # no repeated lines


def test_verify_rejects_a_repeated_step(family: LinearFamily) -> None:
    task = family.detect(ask("Solve 2p + 6 = 3"))
    assert task is not None
    report = family.verify(task, ["2p + 6 = 3", "2p = -3", "p = -3/2", "p = -3/2"])
    assert not report.ok and report.first_failure == 3
    assert "repeats step 3" in report.steps[3].reason
    # spacing and numbering do not make it a new step
    report = family.verify(task, ["2p + 6 = 3", "2p = -3", "2p=-3", "p = -3/2"])
    assert report.first_failure == 2


def test_segment_and_stitch_say_a_repeated_line_once(family: LinearFamily) -> None:
    task = family.detect(ask("Solve 2p + 6 = 3"))
    assert task is not None
    steps = family.segment(task, "1. 2p + 6 = 3\n2. 2p = -3\n3. p = -3/2\n4. p = -3/2")
    assert steps == ["2p + 6 = 3", "2p = -3", "p = -3/2"] and family.verify(task, steps).ok
    bad = ["2p + 6 = 3", "2p = 3"]
    report = family.verify(task, bad)
    stitched = family.stitch(task, bad, report, "2. 2p = -3\n3. p = -3/2\n4. p = -3/2")
    assert stitched == ["2p + 6 = 3", "2p = -3", "p = -3/2"]


@pytest.mark.parametrize(("asked", "budget"), [(None, 160), (4096, 160), (64, 64)])
def test_a_repair_round_has_a_bounded_token_budget(family: LinearFamily, asked: int | None, budget: int) -> None:
    request = ChatRequest(messages=({"role": "user", "content": "Solve 3x + 5 = 20"},), max_tokens=asked)
    task = task_for(family, "Solve 3x + 5 = 20")
    steps = ["3x + 5 = 20", "3x = 16"]
    call = family.patch_request(request, task, steps, family.verify(task, steps))
    assert call.max_tokens == budget
