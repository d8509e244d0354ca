"""The caller's presentation: one cached derivation, rendered as each caller asked."""

from __future__ import annotations

from fractions import Fraction

import pytest

from stepcache import MemoryStore, Route, ScriptedBackend, StepCache
from stepcache.families.linear._present import rounded

STEPS = "1. 2x + 3 = 10\n2. 2x = 7\n3. x = 7/2"


def ask(prompt: str, system: str | None = None) -> dict[str, object]:
    messages = [{"role": "system", "content": system}] if system else []
    return {"messages": [*messages, {"role": "user", "content": prompt}]}


@pytest.fixture()
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture()
def cache(backend: ScriptedBackend) -> StepCache:
    return StepCache(backend, store=MemoryStore())


@pytest.mark.parametrize(
    ("prompt", "system", "served"),
    [
        ("Solve 2x + 3 = 10", None, STEPS),
        ("Solve 2x + 3 = 10. Output only the final number.", None, "7/2"),
        ("Solve 2x + 3 = 10", "Reply with the final answer only.", "x = 7/2"),
        (
            "Solve 2x + 3 = 10 and put the final answer in \\boxed{}",
            None,
            "1. 2x + 3 = 10\n2. 2x = 7\n3. x = \\boxed{7/2}",
        ),
        ("Solve 2x + 3 = 10, rounded to 2 decimal places", None, "1. 2x + 3 = 10\n2. 2x = 7\n3. x = 3.5\n4. x = 3.50"),
        ("Solve 2x + 3 = 10. Just the number, boxed.", None, "\\boxed{7/2}"),
    ],
)
def test_a_fresh_answer_is_presented_as_asked(
    cache: StepCache, backend: ScriptedBackend, prompt: str, system: str | None, served: str
) -> None:
    backend.enqueue(STEPS if "decimal" not in prompt else STEPS.replace("7/2", "3.5"))
    result = cache.complete(ask(prompt, system))
    assert result.family == "linear"
    assert result.text == served


def test_a_rounded_whole_number_is_said_once(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue("1. 9z + 5 = 4z + 30\n2. 5z = 25\n3. z = 5.00")
    served = cache.complete(ask("Find z: 9z + 5 = 4z + 30", "Round the final answer to 2 decimal places."))
    assert served.text == "1. 9z + 5 = 4z + 30\n2. 5z = 25\n3. z = 5\n4. z = 5.00"


def test_one_derivation_serves_every_presentation(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(STEPS)
    assert cache.complete(ask("Solve 2x + 3 = 10")).path is Route.MISS
    final = cache.complete(ask("Solve 4x + 1 = 10. Output only the final number."))
    assert (final.path, final.text) == (Route.REUSE, "9/4")
    boxed = cache.complete(ask("What is y if 2y + 5 = 11? Put the answer in \\boxed{}."))
    assert boxed.path is Route.REUSE and boxed.text.endswith("y = \\boxed{3}")
    assert len(backend.calls) == 1


def test_explained_steps_are_not_served_as_bare_equations(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(STEPS)
    cache.complete(ask("Solve 2x + 3 = 10"))
    backend.enqueue("1. Start: 2x + 5 = 11\n2. Subtract 5 from both sides: 2x = 6\n3. Divide by 2: x = 3")
    explained = cache.complete(ask("Solve 2x + 5 = 11 and explain each step"))
    assert explained.path is not Route.REUSE
    assert "Subtract 5" in explained.text
    assert "a few words saying what you do" in backend.calls[-1].messages[0]["content"]


def test_the_callers_system_prompt_reaches_the_model_first(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(STEPS)
    cache.complete(ask("Solve 2x + 3 = 10. Output only the final number.", "You are a terse tutor."))
    system = backend.calls[-1].messages[0]["content"]
    assert system.startswith("You are a terse tutor.")
    assert "applied to your last line afterwards" in system


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (Fraction(7, 2), 2, "3.50"),
        (Fraction(10, 3), 2, "3.33"),
        (Fraction(-1, 8), 2, "-0.13"),
        (Fraction(-1, 1000), 2, "0.00"),
        (Fraction(5, 2), 0, "3"),
        (Fraction(2, 3), 4, "0.6667"),
    ],
)
def test_rounding_is_half_away_from_zero_with_fixed_places(value: Fraction, places: int, text: str) -> None:
    assert rounded(value, places) == text
