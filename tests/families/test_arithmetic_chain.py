"""A solution as a chain: grounding, exact checks, repair without the model, carrying to a new instance."""

from __future__ import annotations

from fractions import Fraction

from arithmetic_harness import BAKERY, RUNNER, SHOP, Problem
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stepcache.families.arithmetic._chain import carry, check, correct, final_answer, narrow, provenance, read_line
from stepcache.families.arithmetic._question import align, read_question


def _lines(texts: list[str]):  # type: ignore[no-untyped-def]
    return [read_line(t) for t in texts]


def _instance(problem: Problem, values: list[int], names: tuple[str, ...] = ("Maya",)) -> tuple[str, list[str]]:
    exact = [Fraction(v) for v in values]
    return problem.question(exact, names), problem.solution(exact, names)


def test_a_right_solution_has_no_findings() -> None:
    question, solution = _instance(SHOP, [3, 2, 4, 5])
    assert check(read_question(question), _lines(solution)) == []


def test_a_wrong_result_is_proven_wrong_on_its_line() -> None:
    question, solution = _instance(RUNNER, [4, 400])
    solution[0] = solution[0].replace("= 1600", "= 1700")
    findings = check(read_question(question), _lines(solution))
    assert [(f.line, f.proven) for f in findings][0] == (0, True)
    assert "4 * 400 = 1700 is wrong: it is 1600" in findings[0].reason


def test_a_number_from_nowhere_is_a_doubt_not_a_proof() -> None:
    question = "Tom has 12 apples and eats 3. How many are left?"
    findings = check(read_question(question), _lines(["Tom has 13 - 3 = 10 apples left", "The answer is 10."]))
    assert [(f.line, f.proven) for f in findings] == [(0, False)]


def test_the_answer_must_be_a_result() -> None:
    question, solution = _instance(RUNNER, [4, 400])
    solution[-1] = "The answer is 11000."
    findings = check(read_question(question), _lines(solution))
    assert any(f.proven and "answer 11000" in f.reason for f in findings)


def test_percent_answers_match_percent_results() -> None:
    question = "Ann's dog has 8 puppies, 3 of which have spots. Ben's dog has 12 puppies, 4 of which have spots. What percentage have spots?"
    solution = [
        "Puppies: 8 + 12 = 20",
        "Spotted: 3 + 4 = 7",
        "Share: 7 / 20 * 100% = 35%",
        "The answer is 35.",
    ]
    assert check(read_question(question), _lines(solution)) == []


def test_a_statement_before_its_working_is_grounded() -> None:
    question = "A janitor cleans 80 floors in 5 days, 15 minutes per floor. How many minutes a day?"
    solution = [
        "They clean 16 floors a day because 80 / 5 = 16",
        "That is 240 minutes because 16 * 15 = 240",
        "The answer is 240.",
    ]
    assert check(read_question(question), _lines(solution)) == []


def test_a_slip_is_recomputed_and_carried_to_every_later_use() -> None:
    question, _ = _instance(RUNNER, [4, 400])
    slipped = [
        "Each day Maya runs 4 * 400 = 1700 meters",
        "In a week that is 1700 * 7 = 11900 meters",
        "The answer is 11900.",
    ]
    fixed = correct(read_question(question), slipped)
    assert fixed == [
        "Each day Maya runs 4 * 400 = 1600 meters",
        "In a week that is 1600 * 7 = 11200 meters",
        "The answer is 11200.",
    ]


def test_a_result_from_an_ungrounded_operand_is_not_corrected() -> None:
    # 13 is not in the question: the mistake may be the operand, so nothing is "corrected"
    question = "Tom has 12 apples and eats 3. How many are left?"
    assert correct(read_question(question), ["Tom has 13 - 3 = 9 apples left", "The answer is 9."]) is None


def test_a_misstated_answer_is_restated_only_when_nothing_else_says_it() -> None:
    question, solution = _instance(SHOP, [3, 2, 4, 5])
    wrong = [*solution[:-1], "The answer is 25."]
    assert correct(read_question(question), wrong) == solution
    # A number reached in prose is the model's own reasoning: not overruled by the last calculation.
    prose = [*solution[:-1], "She keeps 25 of it for later.", "The answer is 25."]
    assert correct(read_question(question), prose) is None


def _carried(problem: Problem, old: list[int], new: list[int], names=("Maya",), new_names=("Maya",)):  # type: ignore[no-untyped-def]
    q_old, s_old = _instance(problem, old, names)
    q_new, _ = _instance(problem, new, new_names)
    a, b = read_question(q_old), read_question(q_new)
    alignment = align(a, b)
    assert not isinstance(alignment, str), alignment
    return carry(a, b, s_old, provenance(a, _lines(s_old)))


def test_carry_re_evaluates_every_line_for_new_numbers() -> None:
    lines, stopped = _carried(SHOP, [3, 5, 4, 6], [6, 3, 7, 9])
    assert stopped is None
    assert final_answer(_lines(lines)) == 6 * 3 + 7 * 9
    assert lines[0] == "Pens cost 6 * $3 = $18"


def test_carry_stops_where_a_number_had_two_sources_that_now_differ() -> None:
    # 5 pens at $5: either "5" could be either quantity, and the new instance tells them apart
    lines, stopped = _carried(SHOP, [5, 5, 4, 6], [3, 5, 4, 6])
    assert stopped is not None and "two sources" in stopped
    assert len(lines) == 0


def test_a_second_instance_narrows_ambiguous_provenance() -> None:
    q1, s1 = _instance(SHOP, [5, 5, 4, 6])  # ambiguous: pens and price are both 5
    q2, s2 = _instance(SHOP, [3, 5, 4, 6])  # tells them apart
    q3, _ = _instance(SHOP, [5, 7, 3, 9])
    p1 = provenance(read_question(q1), _lines(s1))
    p2 = provenance(read_question(q2), _lines(s2))
    narrowed = narrow(p1, p2)
    assert narrowed is not None
    lines, stopped = carry(read_question(q1), read_question(q3), s1, narrowed)
    assert stopped is None and final_answer(_lines(lines)) == 5 * 7 + 3 * 9


def test_unit_constants_only_where_the_question_names_the_unit() -> None:
    pens = read_question("Maya buys 7 pens at $3 each. How much does she spend?")
    week = read_question("Maya saves $3 every day. How much does she save in a week?")
    assert Fraction(7) not in pens.constants and Fraction(7) in week.constants


def test_changed_relations_and_quantities_are_new_problems() -> None:
    base = read_question(
        "A bakery makes 40 muffins. It sells 6 in the morning and twice as many in the afternoon. How many are left?"
    )
    for other in (
        "A bakery makes 40 muffins. It sells 6 in the morning and half as many in the afternoon. How many are left?",
        "A bakery makes 40 muffins. It sells 6 in the morning and twice as many in the afternoon. How many were sold?",
        "A bakery makes 40 muffins. It sells 6 in the morning, 3 at noon and twice as many in the afternoon. How many are left?",
        "A bakery makes 40 muffins. It buys 6 in the morning and twice as many in the afternoon. How many are left?",
    ):
        assert isinstance(align(base, read_question(other)), str), other
    same = align(
        base,
        read_question(
            "A bakery makes 90 cookies. It sells 11 in the morning and twice as many in the afternoon. How many are left?"
        ),
    )
    assert not isinstance(same, str) and ("muffins", "cookies") in same.renames


def test_twice_to_three_times_is_another_instance_of_the_factor() -> None:
    a = read_question("Jo reads 10 pages on Monday and twice as many on Tuesday. How many pages in all?")
    b = read_question("Jo reads 12 pages on Monday and three times as many on Tuesday. How many pages in all?")
    assert not isinstance(align(a, b), str)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([SHOP, RUNNER, BAKERY]),
    st.lists(st.integers(min_value=1, max_value=60), min_size=4, max_size=4),
    st.lists(st.integers(min_value=1, max_value=60), min_size=4, max_size=4),
)
def test_carrying_never_serves_a_wrong_answer(problem: Problem, old: list[int], new: list[int]) -> None:
    """Whatever the numbers of two instances, a carried solution is either stopped or right."""
    if problem is BAKERY:
        assume(old[0] > 3 * old[1] and new[0] > 3 * new[1])
    q_old, s_old = _instance(problem, old)
    q_new, _ = _instance(problem, new)
    a, b = read_question(q_old), read_question(q_new)
    assume(not isinstance(align(a, b), str))
    lines, stopped = carry(a, b, s_old, provenance(a, _lines(s_old)))
    if stopped is None:
        assert final_answer(_lines(lines)) == problem.answer([Fraction(v) for v in new])
        assert check(b, _lines(lines)) == []


def test_a_percent_written_after_multiplying_by_100_is_right_and_never_corrected() -> None:
    question = read_question(
        "Ann has 8 puppies and Ben 14; 11 of all the puppies have spots. What percentage have spots?"
    )
    solution = ["Puppies: 8 + 14 = 22", "\\[ \\frac{11}{22} \\times 100 = 50\\% \\]", "The answer is \\boxed{50}."]
    assert check(question, _lines(solution)) == []
    assert correct(question, solution) is None  # 50 % here is 50, not 0.5 to be "corrected" to 5000 %
    other = read_question("Ann has 6 puppies and Ben 10; 4 of all the puppies have spots. What percentage have spots?")
    lines, stopped = carry(question, other, solution, provenance(question, _lines(solution)))
    assert stopped is None and final_answer(_lines(lines)) == 25 and "=25%" in lines[1].replace(" ", "")
    assert lines[2] == "The answer is 25."


def test_a_chain_with_a_worked_middle_is_checked_but_never_carried() -> None:
    question = read_question(
        "A building has 32 bricks: 4 green, twice as many purple, the rest pink. How many pink bricks?"
    )
    solution = ["Purple: 2 × 4 = 8", "Pink: 32 - (4 + 8) = 32 - 12 = 20", "The answer is 20."]
    assert check(question, _lines(solution)) == []
    assert correct(question, solution) is None
    wrong = ["Purple: 2 × 4 = 8", "Pink: 32 - (4 + 8) = 32 - 12 = 21", "The answer is 21."]
    assert any(f.proven for f in check(question, _lines(wrong)))
    other = read_question(
        "A building has 40 bricks: 5 green, twice as many purple, the rest pink. How many pink bricks?"
    )
    lines, stopped = carry(question, other, solution, provenance(question, _lines(solution)))
    assert stopped is not None and len(lines) == 1
