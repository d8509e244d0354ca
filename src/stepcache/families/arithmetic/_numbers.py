"""Numbers as people write them in word problems, read exactly.

:func:`numbers_in` finds every quantity of a text with its span: digits in any usual form (``12``,
``2,500``, ``0.5``, ``.5``, ``$1,260.50``, ``40%``), and cardinal words (``three``, ``twenty-five``,
``a dozen``). Multiplier words (``twice``, ``half``, ``triple``, ``a quarter``) are found too, but as
*relations*: they ground a calculation's operand, they never change between look-alike questions.
Values are :class:`fractions.Fraction` so ``0.1 + 0.2 = 0.3`` holds and nothing is rounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from ..linear._problem import render_value

__all__ = [
    "Number",
    "numbers_in",
    "parse_number",
    "format_number",
    "CARDINALS",
    "MULTIPLIERS",
    "TIMES_WORDS",
    "PART_WORDS",
]

#: ``\d`` would also take other scripts' digits; word problems here write ASCII digits.
_DIGITS = (
    r"(?<![\w.])(?P<cur>[$€£])?\s?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<pct>\s?%|\s?percent\b)?"
)
_DIGIT_RE = re.compile(_DIGITS)

CARDINALS: dict[str, int] = {
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
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
}
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_UNITS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_CARDINAL_RE = re.compile(
    r"\b(?:(?P<tens>" + "|".join(_TENS) + r")[- ](?P<unit>" + "|".join(_UNITS) + r")"
    r"|(?P<word>" + "|".join(sorted(CARDINALS, key=len, reverse=True)) + r"))\b",
    re.IGNORECASE,
)
#: Words that state a ratio. A *times* word (``twice``) and a *part* word (``a third``) are
#: quantities of their own kind: ``twice`` → ``three times`` is a new instance, ``twice`` → ``half``
#: another problem. A *count* word (``a dozen``) is a unit: it never varies between instances.
TIMES_WORDS: dict[str, Fraction] = {
    "twice": Fraction(2),
    "double": Fraction(2),
    "doubled": Fraction(2),
    "triple": Fraction(3),
    "tripled": Fraction(3),
    "thrice": Fraction(3),
    "quadruple": Fraction(4),
    "quadrupled": Fraction(4),
}
PART_WORDS: dict[str, Fraction] = {
    "half": Fraction(1, 2),
    "halved": Fraction(1, 2),
    "third": Fraction(1, 3),
    "thirds": Fraction(1, 3),
    "quarter": Fraction(1, 4),
    "quarters": Fraction(1, 4),
    "fourth": Fraction(1, 4),
    "fourths": Fraction(1, 4),
    "fifth": Fraction(1, 5),
    "fifths": Fraction(1, 5),
    "sixth": Fraction(1, 6),
    "sixths": Fraction(1, 6),
    "tenth": Fraction(1, 10),
    "tenths": Fraction(1, 10),
}
COUNT_WORDS: dict[str, Fraction] = {
    "dozen": Fraction(12),
    "dozens": Fraction(12),
    "pair": Fraction(2),
    "pairs": Fraction(2),
    "score": Fraction(20),
}
MULTIPLIERS: dict[str, Fraction] = {**TIMES_WORDS, **PART_WORDS, **COUNT_WORDS}
_TIMES_AFTER = re.compile(r"\s+times\b", re.IGNORECASE)
_MULTIPLIER_RE = re.compile(r"\b(?:" + "|".join(MULTIPLIERS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Number:
    """One quantity of a text: its exact ``value`` (a percentage already divided by 100 when
    ``percent``), where it is, and how it was written (``word`` for ``three``, ``multiplier`` for
    ``twice``)."""

    value: Fraction
    start: int
    end: int
    text: str
    percent: bool = False
    currency: str = ""
    word: bool = False
    multiplier: bool = False
    #: ``"times"`` (``twice``, ``5 times``), ``"part"`` (``half``, ``two thirds``' *thirds*),
    #: ``"count"`` (``a dozen``) or ``""`` for a plain quantity.
    ratio: str = ""
    #: For a part: the denominator its word names (3 for ``two thirds``, whose value is 2/3).
    den: int = 0


def parse_number(text: str) -> Fraction:
    """``"2,500"`` → 2500, ``".5"`` → 1/2. Raises ``ValueError`` for anything else."""
    cleaned = text.replace(",", "").strip()
    if not re.fullmatch(r"\d+(?:\.\d+)?|\.\d+", cleaned):
        raise ValueError(f"not a number: {text!r}")
    return Fraction(cleaned)


def numbers_in(text: str, *, words: bool = True) -> list[Number]:
    """Every quantity in ``text``, in order. ``words`` also reads cardinal and multiplier words."""
    found: list[Number] = []
    for m in _DIGIT_RE.finditer(text):
        if _part_of_word(text, m.start("num"), m.end("num")):
            continue
        value = parse_number(m.group("num"))
        percent = m.group("pct") is not None
        found.append(
            Number(
                value=value / 100 if percent else value,
                start=m.start(),
                end=m.end(),
                text=m.group(0),
                percent=percent,
                currency=m.group("cur") or "",
            )
        )
    if words:
        taken = [(n.start, n.end) for n in found]
        for m in _CARDINAL_RE.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            word = m.group(0).lower()
            if word == "one" and _pronoun_one(text, m.end()):
                continue
            value = (
                Fraction(CARDINALS[m.group("tens").lower()] + CARDINALS[m.group("unit").lower()])
                if m.group("tens")
                else Fraction(CARDINALS[word])
            )
            found.append(Number(value, m.start(), m.end(), m.group(0), word=True))
        for m in _MULTIPLIER_RE.finditer(text):
            word = m.group(0).lower()
            ratio = "times" if word in TIMES_WORDS else "part" if word in PART_WORDS else "count"
            found.append(
                Number(MULTIPLIERS[word], m.start(), m.end(), m.group(0), word=True, multiplier=True, ratio=ratio)
            )
    out: list[Number] = []
    for n in sorted(found, key=lambda n: n.start):
        if n.ratio == "part":
            den = int(1 / n.value)
            prev = out[-1] if out else None
            if (
                prev is not None
                and not prev.ratio
                and not prev.percent
                and not prev.currency
                and re.fullmatch(r"[\s-]*", text[prev.end : n.start])
            ):  # "two thirds", "3 quarters", "one fifth": a fraction, one quantity
                out[-1] = Number(
                    prev.value * n.value,
                    prev.start,
                    n.end,
                    text[prev.start : n.end],
                    word=True,
                    multiplier=True,
                    ratio="part",
                    den=den,
                )
                continue
            n = Number(n.value, n.start, n.end, n.text, word=True, multiplier=True, ratio="part", den=den)
        times = _TIMES_AFTER.match(text, n.end)
        if not n.multiplier and not n.percent and not n.currency and times:
            # "5 times as many": a factor, of a kind with "twice"
            n = Number(n.value, n.start, times.end(), text[n.start : times.end()], word=n.word, ratio="times")
        out.append(n)
    return out


def _part_of_word(text: str, start: int, end: int) -> bool:
    """``B12`` or ``3rd`` or ``x2``: digits glued to letters are names and ordinals, not quantities."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return before.isalpha() or (after.isalpha() and text[end : end + 2].lower() not in ("x ", "k ", "m "))


def _pronoun_one(text: str, end: int) -> bool:
    """ "one of them", "no one", "the other one": *one* that is not a count of anything."""
    return bool(re.match(r"\s+(?:of|another|by|at a time)\b", text[end:], re.IGNORECASE))


def format_number(value: Fraction) -> str:
    """An exact value the way a solution writes it: ``12``, ``0.5``, ``1260.25``; a non-terminating
    value as a reduced fraction ``7/3`` (the linear family's decimal spelling)."""
    return render_value(value, "decimal")
