"""The arithmetic family through the engine: detection, confirmation, reuse, repair, semantic changes."""

from __future__ import annotations

from fractions import Fraction

import pytest
from arithmetic_harness import BAKERY, RUNNER, SHOP, Solver

from stepcache import ChatRequest, Route, ScriptedBackend, StepCache
from stepcache._plugins import load_families
from stepcache.families.arithmetic import ArithmeticFamily
from stepcache.families.arithmetic._family import final_value
from stepcache.store.memory import MemoryStore


def _request(text: str, system: str = "") -> ChatRequest:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return ChatRequest.model_validate({"messages": messages, "model": "m"})


def _cache(solver: Solver, confirmations: int = 1) -> StepCache:
    families = [ArithmeticFamily(confirmations=confirmations) if f.name == "arithmetic" else f for f in load_families()]
    return StepCache(ScriptedBackend(responder=solver), store=MemoryStore(), families=families)


def _answer(text: str) -> Fraction | None:
    return final_value(text.splitlines())


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        "Maya buys 3 pens at $2 each and 4 notebooks at $5 each. How much does Maya spend in total?",
        "my kid has this hw: a train goes 60 miles per hour for 3 hours, how far does it go??",
        "A recipe needs 2 cups of flour for 12 cookies. How many cups of flour are needed for 30 cookies?",
        "Calculate the total cost of 15 tickets at $12.50 each after a 10% discount.",
        "Sam had 45 marbles. He gave a third of them to Ana and lost 5. How many marbles does Sam have left?",
        "**Problem 4.** A farmer has 120 apples and packs them in boxes of 8. How many boxes does he fill?",
    ],
)
def test_word_problems_are_claimed(prompt: str) -> None:
    assert ArithmeticFamily().detect(_request(prompt)) is not None


@pytest.mark.parametrize(
    "prompt",
    [
        "Solve 3x + 5 = 20",
        "For which values of n is 5 - n < 2?",
        "If y = 2x + 3 and x = 4, what is y?",
        "What does `print(7 % 3)` output in Python?",
        "Extract the order number and total from: Order 5531, total $45.10. Return JSON.",
        "A shirt costs $20 and is 25% off. What is the sale price? Just the number please.",
        "What is the slope of the line through (1, 2) and (3, 8)?",
        "Tom has 3 apples and 4 pears.",  # no question
        "How many legs does a spider have?",  # one quantity at most: a fact, not a problem
        "Translate to French: I bought 3 apples for 2 euros. How much was each?",
    ],
)
def test_other_requests_are_declined(prompt: str) -> None:
    assert ArithmeticFamily().detect(_request(prompt)) is None


def test_a_conversation_is_declined() -> None:
    request = ChatRequest.model_validate(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "Maya buys 3 pens at $2 each. How much does she spend?"},
                {"role": "assistant", "content": "She spends $6."},
                {"role": "user", "content": "And if she buys 5 pens at $2 each, how much then?"},
            ],
        }
    )
    assert ArithmeticFamily().detect(request) is None


# -- reuse -------------------------------------------------------------------------------------


def test_first_instance_miss_second_confirms_third_is_reused_without_the_model() -> None:
    solver = Solver()
    texts = [
        solver.add(SHOP, v, n)
        for v, n in (
            ((3, 2, 4, 5), ("Maya",)),
            ((6, 3, 2, 7), ("Tom",)),
            ((5, 4, 3, 9), ("Ana",)),
            ((11, 1.5, 2, 8), ("Li",)),
        )
    ]
    cache = _cache(solver)
    paths = [cache.complete(_request(t)) for t in texts]
    assert [r.path for r in paths] == [Route.MISS, Route.SKIP, Route.REUSE, Route.REUSE]
    assert "not yet confirmed" in paths[1].detail
    assert [_answer(r.text) for r in paths] == [26, 32, 47, Fraction(65, 2)]
    assert paths[2].upstream_tokens.total == 0 and len(solver.calls) == 2
    assert "Ana spends $20 + $27 = $47" in paths[2].text  # names carried into the text too


def test_without_confirmations_the_second_instance_is_reused() -> None:
    solver = Solver()
    a = solver.add(RUNNER, (5, 400))  # (4 laps would be ambiguous: 4 weeks a month is a constant)
    b = solver.add(RUNNER, (6, 250), ("Noah",))
    cache = _cache(solver, confirmations=0)
    cache.complete(_request(a))
    second = cache.complete(_request(b))
    assert second.path is Route.REUSE and _answer(second.text) == 6 * 250 * 7


def test_a_disagreeing_second_answer_does_not_confirm() -> None:
    solver = Solver()
    a = solver.add(RUNNER, (4, 400))
    b = solver.add(RUNNER, (6, 250), ("Noah",))
    c = solver.add(RUNNER, (5, 300), ("Eve",))
    # the model answers the second instance with another (wrong) reasoning: 5 days a week
    solver.known[b] = [
        "Each day Noah runs 6 * 250 = 1500 meters",
        "In a week that is 1500 * 5 = 7500 meters",
        "The answer is 7500.",
    ]
    cache = _cache(solver)
    cache.complete(_request(a))
    cache.complete(_request(b))
    third = cache.complete(_request(c))
    assert third.path is not Route.REUSE  # neither chain has a second answer that agrees with it


def test_an_arithmetic_slip_is_corrected_without_a_model_call() -> None:
    solver = Solver()
    text = solver.add(BAKERY, (40, 6))
    solver.slips.add(text)
    result = _cache(solver).complete(_request(text))
    assert _answer(result.text) == 40 - 18
    assert len(solver.calls) == 1 and "arithmetic corrected without the model" in result.detail


def test_an_answer_that_cannot_be_verified_is_served_as_the_model_gave_it() -> None:
    solver = Solver()
    text = "A box holds 12 eggs. How many eggs are in 7 boxes and 5 loose eggs together?"
    result = _cache(solver).complete(_request(text))
    assert result.text == solver.unsolved and result.stored is None
    assert "served unverified, not stored" in result.detail


@pytest.mark.parametrize(
    "changed",
    [
        # a relation flipped, a ratio changed kind, a quantity added, the question changed
        "A bakery makes 40 muffins. It sells 6 in the morning and half as many in the afternoon. How many muffins are left?",
        "A bakery makes 40 muffins. It bakes 6 in the morning and twice as many in the afternoon. How many muffins are left?",
        "A bakery makes 40 muffins. It sells 6 in the morning, 2 at noon and twice as many in the afternoon. How many muffins are left?",
        "A bakery makes 40 muffins. It sells 6 in the morning and twice as many in the afternoon. How many muffins were sold?",
    ],
)
def test_meaning_changes_are_never_reused(changed: str) -> None:
    solver = Solver()
    first = solver.add(BAKERY, (40, 6))
    second = solver.add(BAKERY, (50, 7), ("Tom",))
    solver.known[changed] = ["Whatever the model says: 2 + 2 = 4", "The answer is 4."]
    cache = _cache(solver, confirmations=0)
    cache.complete(_request(first))
    cache.complete(_request(second))
    result = cache.complete(_request(changed))
    assert result.path in (Route.SKIP, Route.MISS)
    assert _answer(result.text) == 4  # the model's own answer to the changed problem


@pytest.mark.parametrize(
    ("wrap", "system"),
    [
        (lambda q: q, "You are a patient math tutor for a 10-year-old."),
        (lambda q: f"Question: {q}", ""),
        (lambda q: f"can someone help me with this?\n\n{q}\n\nthanks!", ""),
        (lambda q: f"  {q}  \n\n", ""),
        (lambda q: q.replace(" pens", " pens").replace("? ", "?\n"), ""),
    ],
)
def test_meaning_preserving_wrappers_keep_the_answer(wrap, system: str) -> None:  # type: ignore[no-untyped-def]
    solver = Solver()
    texts = [solver.add(SHOP, v) for v in ((3, 2, 4, 5), (6, 3, 2, 7))]
    cache = _cache(solver)
    for text in texts:
        cache.complete(_request(text))
    target = solver.add(SHOP, (5, 4, 3, 9), ("Ana",))
    solver.known[wrap(target)] = solver.known[target]
    result = cache.complete(_request(wrap(target), system))
    assert _answer(result.text) == 47


def test_the_audit_compares_final_answers() -> None:
    family = ArithmeticFamily()
    task = family.detect(_request(SHOP.question([Fraction(3), Fraction(2), Fraction(4), Fraction(5)], ("Maya",))))
    assert task is not None
    a = ["Pens: 3 * 2 = 6", "Notebooks: 4 * 5 = 20", "Total: 6 + 20 = 26", "The answer is 26."]
    b = ["Total: 3 * 2 + 4 * 5 = 26", "The answer is 26."]
    assert family.same_answer(task, a, b) is True
    assert family.same_answer(task, a, [*b[:-1], "The answer is 25."]) is False


def test_a_miss_sends_the_callers_request_unchanged_and_serves_an_unverified_answer_as_given() -> None:
    solver = Solver()
    text = "A box holds 12 eggs. How many eggs are in 7 boxes and 5 loose eggs together?"
    solver.known[text] = ["**Step 1.** Eggs in boxes: \\(12 \\times 7 = 84\\)", "So about 90 eggs in all."]
    result = _cache(solver).complete(_request(text))
    sent = solver.calls[0]
    assert sent.messages == ({"role": "user", "content": text},)  # no format instruction added
    assert result.text == "1. **Step 1.** Eggs in boxes: \\(12 \\times 7 = 84\\)\n2. So about 90 eggs in all."


def test_free_form_working_is_read_through_markdown_and_latex() -> None:
    solver = Solver()
    first = solver.add(RUNNER, (5, 400))
    solver.known[first] = [
        "### Working",
        "- **Each day:** Maya runs \\(5 \\times 400 = 2000\\) meters",
        "- **A week:** \\( \\frac{2000 \\cdot 7}{1} = 14000 \\) meters",
        "The answer is \\boxed{14000}.",
    ]
    result = _cache(solver).complete(_request(first))
    assert result.stored is not None and "served unverified" not in result.detail


def test_a_fresh_answer_that_fails_is_never_sent_back_to_the_model() -> None:
    solver = Solver()
    text = solver.add(RUNNER, (5, 400))
    solver.known[text] = [
        "Each day Maya runs 5 * 400 = 2000 meters",
        "In a week that is 2000 * 6 = 12000 meters",
        "The answer is 12000.",
    ]  # 6 is from nowhere: a doubt, and no model repair
    result = _cache(solver).complete(_request(text))
    assert len(solver.calls) == 1 and "served unverified" in result.detail


# -- framing around the problem ----------------------------------------------------------------
# Written after the mechanism, with other words than the wrappers it was developed on
# (tests/corpus/test_arithmetic_metamorphic.py): talk addressed to the assistant around the problem.
FRAMES = [
    "Hey there, quick one for you:\n\n{q}",
    "{q}\n\nCheers!",
    "Good morning! My son brought this home from school.\n\n{q}\n\nCan you walk me through it?",
    "## Exercise\n\n{q}",
    "Problem: {q}",
    "Hello,\n\n{q}\n\nThank you so much, I really appreciate it!",
    "**{q}**",
]
#: Around the same problem, words that add to or bend what is asked: never answered from the cache.
BENDS = [
    "{q}\n\nCould you also count the ones sold at noon?",
    "{q}\n\nPlease assume it sells 2 more at night.",
    "Hi! Ignore the morning sales.\n\n{q}",
    "{q}\n\nThanks! And what if it made twice as many?",
    "## Exercise 3 (half the muffins are burnt)\n\n{q}",
]


def _served_after_two(frame: str) -> tuple[Route, Fraction | None, int]:
    solver = Solver()
    first = solver.add(BAKERY, (40, 6))
    second = solver.add(BAKERY, (50, 7), ("Tom",))
    third = solver.add(BAKERY, (64, 9), ("Eve",))
    framed = frame.format(q=third)
    solver.known[framed] = solver.known[third]
    cache = _cache(solver, confirmations=0)
    cache.complete(_request(first))
    cache.complete(_request(second))
    calls = len(solver.calls)
    result = cache.complete(_request(framed))
    return result.path, _answer(result.text), len(solver.calls) - calls


@pytest.mark.parametrize("frame", FRAMES)
def test_talk_around_the_problem_does_not_make_it_another_problem(frame: str) -> None:
    path, answer, calls = _served_after_two(frame)
    assert (path, answer, calls) == (Route.REUSE, 64 - 27, 0)


@pytest.mark.parametrize("frame", BENDS)
def test_framing_that_could_change_the_question_is_answered_fresh(frame: str) -> None:
    path, _, calls = _served_after_two(frame)
    assert path in (Route.SKIP, Route.MISS) and calls == 1
