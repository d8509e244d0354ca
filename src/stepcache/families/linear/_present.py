"""How the caller wants the answer presented, and the rendering that honours it.

StepCache caches, adapts and verifies a linear solution as numbered steps ending with ``x = value``.
Callers ask for other presentations in their own words ("output only the final number", "put the
final answer in \\boxed{}", "round to 2 decimal places", "as a fraction", "explain each step"). The
steps stay the unit of reuse; :func:`render` writes the verified steps in the requested presentation,
so one cached derivation serves every presentation of the same equation.

A presentation StepCache cannot write (a language, a percentage, a mixed number, code, a table) or
contradictory instructions make :func:`presentation_of` return ``None``: the family declines the
request and it is answered as generic, never in a format the caller did not ask for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Any

__all__ = ["Presentation", "presentation_of", "render_answer", "rounded", "without_presentation"]

_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_NEAREST = {"whole number": 0, "integer": 0, "unit": 0, "one": 0, "tenth": 1, "hundredth": 2, "thousandth": 3}


@dataclass(frozen=True, slots=True)
class Presentation:
    """``fmt``: default | fraction | decimal; ``answer``: steps | final; ``bare``: the final value
    without ``x =``; ``boxed``: the value in ``\\boxed{}``; ``places``: rounded to that many
    decimals; ``explain``: each step says in a few words what it does."""

    fmt: str = "default"
    answer: str = "steps"
    bare: bool = False
    boxed: bool = False
    places: int | None = None
    explain: bool = False

    def to_data(self) -> dict[str, Any]:
        return {
            "fmt": self.fmt,
            "answer": self.answer,
            "bare": self.bare,
            "boxed": self.boxed,
            "places": self.places,
            "explain": self.explain,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> Presentation:
        if not data:
            return cls()
        places = data.get("places")
        return cls(
            fmt=str(data.get("fmt", "default")),
            answer=str(data.get("answer", "steps")),
            bare=bool(data.get("bare", False)),
            boxed=bool(data.get("boxed", False)),
            places=None if places is None else int(places),
            explain=bool(data.get("explain", False)),
        )

    @property
    def default(self) -> bool:
        return self == Presentation(fmt=self.fmt)

    def describe(self) -> str:
        """The presentation in words, for the model's instructions and logs."""
        parts = []
        if self.answer == "final":
            parts.append("only the final value")
        if self.places is not None:
            parts.append(f"rounded to {self.places} decimal place(s)")
        if self.boxed:
            parts.append("inside \\boxed{}")
        return ", ".join(parts)


# -- reading the caller's words --------------------------------------------------------------------
_W = r"(?:the\s+|your\s+|a\s+|an\s+)?"
_VALUE_NOUN = (
    r"(?:answer|number|value|result|solution|numeric(?:al)?\s+(?:answer|value)|final\s+(?:answer|number|value|result))"
)
_FINAL_ONLY = re.compile(
    rf"\b(?:only|just|solely)\s+(?:give\s+|output\s+|return\s+|print\s+|write\s+|state\s+|provide\s+|reply\s+with\s+|respond\s+with\s+)?{_W}(?:final\s+)?(?:numeric(?:al)?\s+)?{_VALUE_NOUN}"
    rf"|\b(?:give|output|return|print|write|state|provide|reply\s+with|respond\s+with)\s+(?:me\s+)?(?:only|just)\s+{_W}(?:final\s+)?(?:numeric(?:al)?\s+)?{_VALUE_NOUN}"
    rf"|\b{_VALUE_NOUN}\s+only\b"
    r"|\bno\s+(?:steps|working|work|explanations?|derivation|reasoning)\b"
    r"|\bwithout\s+(?:any\s+)?(?:steps|showing|working|work|explanations?|derivation|reasoning)\b"
    r"|\b(?:do\s*n[o']?t|don't|never)\s+(?:show|explain|include|give)\s+(?:any\s+|the\s+|your\s+)?(?:work|working|steps|explanations?|reasoning)\b"
    r"|\bnothing\s+(?:else|but\s+the\s+(?:number|answer|value))\b",
    re.IGNORECASE,
)
_BARE = re.compile(r"\b(?:number|numeric|numerical|digits?|value)\b(?!\s+of\b)", re.IGNORECASE)
_STEPS = re.compile(
    r"\b(?:show|list|write\s+out|give|include|number)\s+(?:all\s+|each\s+|every\s+|the\s+|your\s+)?(?:work(?:ing)?|steps?)\b"
    r"|\bstep[\s-]+by[\s-]+step\b|\bnumbered\s+(?:steps|list|lines)\b",
    re.IGNORECASE,
)
_BOXED = re.compile(r"\\boxed|\bboxed\b|\bin\s+a\s+box\b|\bbox\s+(?:the|your)\s+(?:final\s+)?answer\b", re.IGNORECASE)
_PLACE_COUNT = r"(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")"
_PLACES = re.compile(
    rf"\b(?:to|with|in|at|using)\s+{_PLACE_COUNT}\s+(?:decimal\s+(?:places?|digits?)|decimals|d\.?\s?p\.?|places"
    r"|digits\s+after\s+the\s+(?:decimal(?:\s+point)?|point))"
    rf"|\b{_PLACE_COUNT}\s*(?:d\.p\.|dp\b|decimal\s+places?\b)",
    re.IGNORECASE,
)
_NEAREST_RE = re.compile(
    r"\bto\s+the\s+nearest\s+(whole\s+number|integer|unit|one|tenth|hundredth|thousandth)\b", re.IGNORECASE
)
_NOT_FRACTION = re.compile(
    r"\b(?:not|no|never|instead\s+of|rather\s+than|avoid(?:ing)?|without)\s+(?:as\s+|in\s+|a\s+|an\s+|any\s+|using\s+)*fractions?\b",
    re.IGNORECASE,
)
_NOT_DECIMAL = re.compile(
    r"\b(?:not|no|never|instead\s+of|rather\s+than|avoid(?:ing)?|without)\s+(?:as\s+|in\s+|a\s+|an\s+|any\s+|using\s+)*decimals?\b(?!\s+(?:places?|digits?))",
    re.IGNORECASE,
)
_FRACTION = re.compile(
    r"\bfraction(?:al)?s?\b|\bexact(?:\s+(?:form|value|answer))\b|\b(?:lowest|simplest)\s+(?:terms|form)\b",
    re.IGNORECASE,
)
_DECIMAL = re.compile(r"\bdecimals?\b(?!\s+(?:places?|digits?|point))", re.IGNORECASE)
_EXPLAIN = re.compile(
    # "explain in numbered steps" asks for the derivation itself; these ask for words around it
    r"\bexplain\w*\s+(?:each|every|all|the\s+(?:steps?|reasoning|process|method)|your|why|how|what|it)\b"
    r"|\bexplanations?\b|\bwhy\b|\bjustify\b|\bin\s+words\b|\bdescribe\s+(?:each|every|what)\b"
    r"|\bwhat\s+(?:you(?:'re|\s+are)\s+doing|each\s+step\s+does)\b|\bteach\s+me\b|\bwalk\s+me\s+through\b",
    re.IGNORECASE,
)
#: Presentations StepCache does not write: declining keeps the caller's request intact.
_UNSUPPORTED = re.compile(
    r"\b(?:in|into)\s+(?:spanish|french|german|italian|portuguese|chinese|japanese|korean|russian|arabic|hindi|dutch|polish|turkish)\b"
    r"|\b(?:as|in)\s+(?:a\s+)?(?:percent(?:age)?|mixed\s+numbers?|scientific\s+notation|standard\s+form|words|roman\s+numerals|a\s+table|table\s+form|latex|markdown\s+table|json|yaml|xml|csv|a\s+sentence|one\s+sentence|a\s+paragraph|a\s+poem|a\s+story)\b"
    r"|\b(?:significant\s+(?:figures|digits)|sig\.?\s*figs?)\b"
    r"|\b(?:write|give|make|create|generate|produce)\s+(?:me\s+)?(?:a\s+|an\s+|the\s+|some\s+)?(?:python|javascript|java|c\+\+|sql|code|program|function|script|quiz|worksheet|word\s+problem|story|poem|song)\b"
    r"|\b(?:python|javascript|typescript|sympy|numpy|matlab|excel)\b"
    r"|\b(?:check|verify)\s+(?:your|the)\s+(?:answer|solution|work)\b"
    r"|\b(?:both|two)\s+(?:ways|methods)\b|\b(?:another|alternative|different)\s+(?:way|method)\b",
    re.IGNORECASE,
)


_NEGATED = re.compile(
    r"\b(?:no|without|don'?t|do\s+not|never|skip|omit|leave\s+out)\s+(?:any\s+|the\s+|an\s+|your\s+)?"
    r"(?:explanations?|explaining|explain|reasoning|working|justification|commentary|words|text|prose)\b",
    re.IGNORECASE,
)


_UNSET: dict[str, Any] = {}


def presentation_of(text: str, system: str = "") -> Presentation | None:
    """The presentation the caller asks for in ``system`` (its system prompt) and ``text`` (its
    turns, without the equation); ``None`` when it asks for something the linear family cannot write
    or contradicts itself. Where the system prompt and the turns disagree, the system prompt wins
    (it is the application's rule; "numbered steps" in a user turn does not override "final number
    only" in the system prompt).
    """
    own = _directives(system) if system.strip() else _UNSET
    asked = _directives(text)
    if own is None or asked is None:
        return None
    merged = {**asked, **own}
    if "places" in merged and merged.get("fmt") == "fraction":
        if "fmt" in own and "places" not in own:
            merged.pop("places")  # the application wants fractions; the user's rounding yields
        elif "places" in own and own.get("fmt") != "fraction":
            merged["fmt"] = "decimal"
        else:
            return None
    answer = merged.get("answer", "steps")
    return Presentation(
        fmt=merged.get("fmt", "decimal" if "places" in merged else "default"),
        answer=answer,
        bare=bool(merged.get("bare", False)) and answer == "final",
        boxed=bool(merged.get("boxed", False)),
        places=merged.get("places"),
        explain=bool(merged.get("explain", False)) and answer == "steps",
    )


def _directives(text: str) -> dict[str, Any] | None:
    """What ``text`` says about the presentation, only the aspects it mentions; ``None`` when it
    asks for a presentation the family cannot write or contradicts itself."""
    if _UNSUPPORTED.search(text):
        return None
    refused = " ".join(m.group(0) for m in _NEGATED.finditer(text))  # "no explanation" asks for less
    text = _NEGATED.sub(" ", text)
    out: dict[str, Any] = {}
    fraction = bool(_FRACTION.search(text)) and not _NOT_FRACTION.search(text)
    decimal = bool(_DECIMAL.search(text)) and not _NOT_DECIMAL.search(text)
    if _NOT_FRACTION.search(text) and not _NOT_DECIMAL.search(text):
        decimal = True  # "not as a fraction": the other exact spelling
    if _NOT_DECIMAL.search(text) and not _NOT_FRACTION.search(text):
        fraction = True
    places: int | None = None
    for m in _PLACES.finditer(text):
        found = m.group(1) or m.group(2)
        assert found is not None
        n = int(found) if found.isdigit() else _NUMBER_WORDS[found.lower()]
        if places is not None and places != n:
            return None  # two different roundings
        places = n
    for m in _NEAREST_RE.finditer(text):
        n = _NEAREST[" ".join(m.group(1).lower().split())]
        if places is not None and places != n:
            return None
        places = n
    if places is not None and places > 12:
        return None
    if fraction and (decimal or places is not None):
        return None  # a fraction and a decimal at once
    if fraction or decimal:
        out["fmt"] = "fraction" if fraction else "decimal"
    if places is not None:
        out["places"] = places
    final_only = _FINAL_ONLY.search(text) or _FINAL_ONLY.search(refused)
    steps = _STEPS.search(text)
    explain = bool(_EXPLAIN.search(text))
    if final_only and (steps or explain):
        return None  # "only the final number" and "show your steps"
    if final_only:
        out["answer"] = "final"
        out["bare"] = bool(_BARE.search(final_only.group(0)))
    elif steps or explain:
        out["answer"] = "steps"
    if explain:
        out["explain"] = True
    if _BOXED.search(text):
        out["boxed"] = True
    return out


_COURTESY = re.compile(r"\b(?:please|pls|plz|thanks?(?:\s+you)?|thx|kindly|hi|hello|hey)\b", re.IGNORECASE)


def without_presentation(text: str) -> str:
    """``text`` without the phrases that only say how to present the answer (and courtesies): what
    is left is what the caller asks for."""
    for pattern in (
        _NEGATED,
        _FINAL_ONLY,
        _STEPS,
        _BOXED,
        _PLACES,
        _NEAREST_RE,
        _NOT_FRACTION,
        _NOT_DECIMAL,
        _FRACTION,
        _DECIMAL,
        _COURTESY,
    ):
        text = pattern.sub(" ", text)
    return text


# -- writing the answer ----------------------------------------------------------------------------
def rounded(value: Fraction, places: int) -> str:
    """``value`` rounded half away from zero to ``places`` decimals, written with exactly that many."""
    with localcontext() as ctx:
        ctx.prec = 80  # exact enough for any value a linear equation here has, at 12 places
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        result = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return str(abs(result) if result.is_zero() else result)  # never "-0.00"


def render_answer(presentation: Presentation, var: str, value: Fraction, exact_text: str, steps: Sequence[str]) -> str:
    """The answer text: verified ``steps`` (the last states ``var``'s value) in ``presentation``."""
    rounded_text = None if presentation.places is None else rounded(value, presentation.places)
    shown = exact_text if rounded_text is None else rounded_text
    if presentation.boxed:
        shown = f"\\boxed{{{shown}}}"
    if presentation.answer == "final":
        return shown if presentation.bare else f"{var} = {shown}"
    # The derivation ends with the exact value in our spelling; a rounded value follows it.
    finals = [f"{var} = {exact_text}"]
    if rounded_text is not None and rounded_text != exact_text:
        finals.append(f"{var} = {rounded_text}")
    finals[-1] = f"{var} = {shown}"
    said = {_key(f) for f in finals}
    lines = [step for step in steps[:-1] if _key(step) not in said] + finals
    return "\n".join(f"{i}. {step}" for i, step in enumerate(lines, 1))


def _key(step: str) -> str:
    return re.sub(r"\s+", "", step).lower()
