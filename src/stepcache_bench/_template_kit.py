"""The machinery of :mod:`stepcache_bench.templated`: what a layout is, the edits a mutation makes to a
document, and the value samplers and writers every layout draws from.

A :class:`Layout` is one sender's document template (one shop's order confirmation, one vendor's
invoice): it samples the values of one document, writes the document the way that sender writes it,
computes the JSON the application's instruction asks for from the sampled values (never by reading the
document back), and wraps the document in the application's request, which is the same for every
document of the layout.

An :class:`Edit` changes one written document: it works on the text and the expected JSON only, so it
applies to hand-written documents of a layout as well as to generated ones.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, TypeVar

from .workload import ChatBody, JsonTruth

__all__ = [
    "Layout",
    "Edit",
    "Rename",
    "Move",
    "Lookalike",
    "Remove",
    "Swap",
    "Values",
    "pick",
    "person",
    "email_for",
    "digits",
    "money",
    "cents",
    "write_money",
    "read_money",
    "day",
    "write_date",
    "read_date",
    "clock",
    "write_time",
    "read_time",
    "number",
]

Values = dict[str, Any]
_PLACEHOLDER = "\u2063DOCUMENT\u2063"  # an invisible separator no document contains


# -- layouts ----------------------------------------------------------------------------------------


class Layout(ABC):
    """One document template and the application request that extracts JSON from its documents."""

    #: Short identifier, used in item ids and ``perturbation="template:<name>"``.
    name: ClassVar[str]
    #: What kind of document it is, in a few words (for reports and docs).
    kind: ClassVar[str]
    #: The keys the instruction asks for, in its order.
    keys: ClassVar[tuple[str, ...]]
    #: Whether the instruction allows keys beyond ``keys`` (a strict json_schema does not).
    additional_keys: ClassVar[bool] = True
    #: The meaning-changing or structure-changing edits that make sense on this layout's documents.
    edits: ClassVar[tuple[Edit, ...]] = ()
    max_tokens: ClassVar[int] = 320

    @abstractmethod
    def sample(self, rng: random.Random) -> Values:
        """Every value of one document: the requested ones and the free text around them."""

    @abstractmethod
    def render(self, v: Values) -> str:
        """The document as its sender writes it (a pure function of the values)."""

    @abstractmethod
    def expected(self, v: Values) -> dict[str, Any]:
        """The exact JSON the instruction asks for, computed from the values."""

    @abstractmethod
    def envelope(self, document: str) -> dict[str, Any]:
        """The application's chat body around ``document``: ``messages`` and maybe ``response_format``."""

    # -- derived ------------------------------------------------------------------------------------
    def request(self, document: str) -> ChatBody:
        return ChatBody.model_validate({**self.envelope(document), "max_tokens": self.max_tokens, "temperature": 0})

    def truth(self, expected: dict[str, Any]) -> JsonTruth:
        if set(expected) != set(self.keys):
            raise ValueError(f"{self.name}: expected keys {sorted(expected)} are not the layout's {sorted(self.keys)}")
        return JsonTruth(required_keys=self.keys, expected=expected, additional_keys=self.additional_keys)

    def document_of(self, body: ChatBody) -> str | None:
        """The document inside ``body`` if ``body`` is this layout's request (same instruction, same
        response format), else ``None``."""
        probe = _envelope_json(self.envelope(_PLACEHOLDER))
        marker = json.dumps(_PLACEHOLDER)[1:-1]
        if probe.count(marker) != 1:
            raise ValueError(f"{self.name}: the envelope must hold the document exactly once")
        before, after = probe.split(marker)
        actual = _envelope_json({"messages": [dict(m) for m in body.messages], "response_format": body.response_format})
        if not (actual.startswith(before) and actual.endswith(after)) or len(actual) < len(before) + len(after):
            return None
        middle = actual[len(before) : len(actual) - len(after)]
        try:
            document = json.loads(f'"{middle}"')
        except ValueError:
            return None
        return document if isinstance(document, str) and document.strip() else None


def _envelope_json(envelope: dict[str, Any]) -> str:
    shape = {"messages": envelope["messages"], "response_format": envelope.get("response_format")}
    return json.dumps(shape, sort_keys=True, ensure_ascii=True)


# -- edits ------------------------------------------------------------------------------------------

Edited = tuple[str, dict[str, Any]]


class Edit(ABC):
    """One edit of a written document and its effect on the expected JSON."""

    #: The mutation's name: ``perturbation="mutate:<name>"``.
    name: ClassVar[str]
    #: True when the edit takes requested information out of the document.
    semantic: ClassVar[bool] = False

    @abstractmethod
    def apply(self, text: str, expected: dict[str, Any], rng: random.Random) -> Edited | None:
        """The edited text and expected JSON, or ``None`` when the document has nothing to edit."""


def _lines_matching(lines: Sequence[str], pattern: str) -> list[int]:
    compiled = re.compile(pattern)
    return [i for i, line in enumerate(lines) if compiled.search(line)]


def _block(lines: Sequence[str], start: int, paragraph: bool) -> int:
    """The index after the line (or the paragraph: up to the next blank line) starting at ``start``."""
    end = start + 1
    while paragraph and end < len(lines) and lines[end].strip():
        end += 1
    return end


@dataclass(frozen=True)
class Rename(Edit):
    """A label written another way ("Total" → "Amount due"); the values stay where they were."""

    name: ClassVar[str] = "rename_label"
    pattern: str
    replacements: tuple[str, ...]

    def apply(self, text: str, expected: dict[str, Any], rng: random.Random) -> Edited | None:
        found = list(re.finditer(self.pattern, text, re.MULTILINE))
        if len(found) != 1:
            return None
        match = found[0]
        new = text[: match.start()] + rng.choice(self.replacements) + text[match.end() :]
        return (new, dict(expected)) if new != text else None


@dataclass(frozen=True)
class Move(Edit):
    """The line (or paragraph) holding a field moved to just before another line."""

    name: ClassVar[str] = "move_field"
    line: str
    before: str
    paragraph: bool = False

    def apply(self, text: str, expected: dict[str, Any], rng: random.Random) -> Edited | None:
        lines = text.split("\n")
        found = _lines_matching(lines, self.line)
        if len(found) != 1:
            return None
        start = found[0]
        end = _block(lines, start, self.paragraph)
        moved = lines[start:end]
        del lines[start:end]
        if self.paragraph and start < len(lines) and not lines[start].strip():
            del lines[start]  # the blank line that separated the paragraph
        targets = _lines_matching(lines, self.before)
        if len(targets) != 1:
            return None
        lines[targets[0] : targets[0]] = moved + ([""] if self.paragraph else [])
        new = "\n".join(lines)
        return (new, dict(expected)) if new != text else None


@dataclass(frozen=True)
class Lookalike(Edit):
    """A field that looks like a requested one, added next to it ("Subtotal" above "Total")."""

    name: ClassVar[str] = "add_lookalike"
    anchor: str
    make: Callable[[random.Random], str]
    after: bool = False
    paragraph: bool = False

    def apply(self, text: str, expected: dict[str, Any], rng: random.Random) -> Edited | None:
        lines = text.split("\n")
        found = _lines_matching(lines, self.anchor)
        if len(found) != 1:
            return None
        added = self.make(rng).split("\n")
        if self.paragraph:
            added = [*added, ""] if not self.after else ["", *added]
        at = _block(lines, found[0], self.paragraph) if self.after else found[0]
        lines[at:at] = added
        return "\n".join(lines), dict(expected)


@dataclass(frozen=True)
class Remove(Edit):
    """A requested field taken out of the document: those keys become null (only layouts whose
    instruction says to use null for what the document does not give have this edit)."""

    name: ClassVar[str] = "remove_field"
    semantic: ClassVar[bool] = True
    line: str
    keys: tuple[str, ...]
    paragraph: bool = False

    def apply(self, text: str, expected: dict[str, Any], rng: random.Random) -> Edited | None:
        if all(expected.get(k) is None for k in self.keys):
            return None  # already absent: removing the line would change nothing requested
        lines = text.split("\n")
        found = _lines_matching(lines, self.line)
        if len(found) != 1:
            return None
        del lines[found[0] : _block(lines, found[0], self.paragraph)]
        return "\n".join(lines), {**expected, **{k: None for k in self.keys}}


@dataclass(frozen=True)
class Swap(Edit):
    """The values of two look-alike fields trade places (the arrival airport where the departure was).

    ``first`` and ``second`` are patterns with one group, the written value; ``read_first(text)`` is
    what the expected JSON holds when the first field says ``text`` (``{}`` when it is not requested).
    """

    name: ClassVar[str] = "swap_values"
    first: str
    second: str
    read_first: Callable[[str], dict[str, Any]]
    read_second: Callable[[str], dict[str, Any]]

    def apply(self, text: str, expected: dict[str, Any], rng: random.Random) -> Edited | None:
        a = list(re.finditer(self.first, text, re.MULTILINE))
        b = list(re.finditer(self.second, text, re.MULTILINE))
        if len(a) != 1 or len(b) != 1:
            return None
        (sa, ea), (sb, eb) = a[0].span(1), b[0].span(1)
        va, vb = text[sa:ea], text[sb:eb]
        if va.strip() == vb.strip() or text.count(va.strip()) != 1 or text.count(vb.strip()) != 1:
            return None  # the same value, or written elsewhere too: the swap would leave the text inconsistent
        if ea > sb and eb > sa:
            return None
        if sa < sb:
            new = text[:sa] + vb + text[ea:sb] + va + text[eb:]
        else:
            new = text[:sb] + va + text[eb:sa] + vb + text[ea:]
        swapped = {**expected, **self.read_first(vb), **self.read_second(va)}
        return (new, swapped) if swapped != expected else None  # requested values must trade places


# -- values -----------------------------------------------------------------------------------------

FIRST_NAMES = (
    "Maria",
    "James",
    "Aisha",
    "Chen",
    "Olusegun",
    "Sofia",
    "Liam",
    "Priya",
    "Mateo",
    "Hannah",
    "Yuki",
    "Fatima",
    "Noah",
    "Zoë",
    "José",
    "Siobhán",
    "Anders",
    "Mei",
    "Kwame",
    "Elena",
    "Tomasz",
    "Grace",
    "Ravi",
    "Ingrid",
    "Dmitri",
    "Leila",
    "Owen",
    "Camille",
    "Hiroshi",
    "Nadia",
    "Bartholomew",
    "Ana-Lucía",
)
LAST_NAMES = (
    "Keller",
    "Okafor",
    "Nguyen",
    "García",
    "Smith",
    "O'Brien",
    "Patel",
    "Johansson",
    "Kowalski",
    "Müller",
    "Tanaka",
    "Haddad",
    "Brown",
    "Rossi",
    "Mensah",
    "Dubois",
    "Schmidt",
    "Fernández",
    "Lindqvist",
    "Cohen",
    "Novak",
    "MacLeod",
    "Ivanova",
    "Singh",
    "Walsh",
    "Moreau",
    "Costa",
    "Yılmaz",
    "Adeyemi",
    "van der Berg",
)

T = TypeVar("T")


def pick(rng: random.Random, options: Sequence[T]) -> T:
    return options[rng.randrange(len(options))]


def person(rng: random.Random) -> tuple[str, str]:
    return pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ı", "i"))
    return "".join(c for c in folded if c.isascii() and (c.isalnum() or c in "-")).lower()


def email_for(rng: random.Random, first: str, last: str, domains: Sequence[str]) -> str:
    f, s = _ascii(first), _ascii(last.replace(" ", ""))
    local = pick(rng, (f"{f}.{s}", f"{f}{s[:1]}", f"{f[:1]}{s}", f"{f}_{s}{rng.randint(1, 99)}", f"{s}.{f}"))
    return f"{local}@{pick(rng, domains)}"


def digits(rng: random.Random, n: int) -> str:
    """``n`` digits, the first not zero."""
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def money(rng: random.Random, low: float, high: float, step: str = "0.01") -> Decimal:
    """A price between ``low`` and ``high``, a multiple of ``step``."""
    unit = Decimal(step)
    count = rng.randint(int(Decimal(str(low)) / unit), int(Decimal(str(high)) / unit))
    return (count * unit).quantize(Decimal("0.01"))


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def number(value: Decimal) -> int | float:
    """The JSON number for an amount: 1246.5 for 1,246.50, 70000 for 70,000."""
    return int(value) if value == value.to_integral_value() else float(value)


def _grouped(value: Decimal, thousands: str, point: str, places: int = 2) -> str:
    whole, _, frac = f"{abs(value):.{places}f}".partition(".")
    groups = f"{int(whole):,}".replace(",", thousands)
    return ("-" if value < 0 else "") + groups + (point + frac if places else "")


def write_money(value: Decimal, style: str) -> str:
    """``us`` $1,234.50 · ``gbp`` £1,234.50 · ``eur`` €1,234.50 · ``eu`` 1.234,50 € · ``code:GBP``
    GBP 1,234.50 · ``bare`` 1,234.50 · ``till`` 1234.50 · ``whole:€`` €70,000."""
    if style == "us":
        return "$" + _grouped(value, ",", ".")
    if style == "gbp":
        return "£" + _grouped(value, ",", ".")
    if style == "eur":
        return "€" + _grouped(value, ",", ".")
    if style == "eu":
        return _grouped(value, ".", ",") + " €"
    if style.startswith("code:"):
        return style[5:] + " " + _grouped(value, ",", ".")
    if style == "bare":
        return _grouped(value, ",", ".")
    if style == "till":
        return f"{value:.2f}"
    if style.startswith("whole:"):
        return style[6:] + _grouped(value, ",", ".", places=0)
    raise ValueError(f"unknown money style {style!r}")


def read_money(text: str) -> int | float:
    """The number a written amount means, in the writer's convention: "1.234,50 €" is 1234.5."""
    body = re.sub(r"[^\d.,-]", "", text)
    if re.search(r",\d{2}$", body):  # a decimal comma
        body = body.replace(".", "").replace(",", ".")
    else:
        body = body.replace(",", "")
    return number(Decimal(body))


def day(rng: random.Random, start: date = date(2024, 1, 8), span: int = 800) -> date:
    return start + timedelta(days=rng.randrange(span))


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def write_date(d: date, style: str) -> str:
    """``mdy_long`` March 3, 2025 · ``mdy`` 03/03/2025 · ``mdy_short`` 03/03/25 · ``dmy`` 3 Mar 2025 ·
    ``dmy_long`` 3 March 2025 · ``dot`` 03.03.2025 · ``weekday`` Monday, 3 March 2025 · ``weekday_nodate``
    Monday 3 March · ``airline`` 03MAR2025 · ``calendar`` Monday Mar 3, 2025 · ``iso`` 2025-03-03."""
    month, weekday = _MONTHS[d.month - 1], _DAYS[d.weekday()]
    formats = {
        "mdy_long": f"{month} {d.day}, {d.year}",
        "mdy": f"{d.month:02d}/{d.day:02d}/{d.year}",
        "mdy_short": f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",
        "dmy": f"{d.day} {month[:3]} {d.year}",
        "dmy_long": f"{d.day} {month} {d.year}",
        "dot": f"{d.day:02d}.{d.month:02d}.{d.year}",
        "weekday": f"{weekday}, {d.day} {month} {d.year}",
        "weekday_nodate": f"{weekday} {d.day} {month}",
        "airline": f"{d.day:02d}{month[:3].upper()}{d.year}",
        "calendar": f"{weekday} {month[:3]} {d.day}, {d.year}",
        "iso": d.isoformat(),
    }
    return formats[style]


def read_date(text: str, style: str) -> str:
    """The ISO date of a date written in ``style`` (the inverse of :func:`write_date`)."""
    text = text.strip()
    months = {m[:3].lower(): i for i, m in enumerate(_MONTHS, 1)}
    if style in ("mdy", "mdy_short"):
        m, d, y = (int(p) for p in text.split("/"))
        return date(y + 2000 if y < 100 else y, m, d).isoformat()
    if style == "dot":
        d, m, y = (int(p) for p in text.split("."))
        return date(y, m, d).isoformat()
    if style == "airline":
        return date(int(text[5:]), months[text[2:5].lower()], int(text[:2])).isoformat()
    found = re.search(r"(\d{1,2})\s+([A-Za-z]+)\s+(\d{4})|([A-Za-z]+)\s+(\d{1,2}),\s+(\d{4})", text)
    if found is None:
        raise ValueError(f"cannot read the date {text!r} as {style}")
    if found.group(1):
        return date(int(found.group(3)), months[found.group(2)[:3].lower()], int(found.group(1))).isoformat()
    return date(int(found.group(6)), months[found.group(4)[:3].lower()], int(found.group(5))).isoformat()


def clock(rng: random.Random, first: int = 6, last: int = 22, step: int = 5) -> tuple[int, int]:
    return rng.randint(first, last), rng.randrange(0, 60, step)


def write_time(hour: int, minute: int, style: str) -> str:
    """``24`` 14:05 · ``12`` 2:05 PM · ``cal`` 2:05pm (2pm on the hour)."""
    if style == "24":
        return f"{hour:02d}:{minute:02d}"
    h12 = hour % 12 or 12
    half = "AM" if hour < 12 else "PM"
    if style == "12":
        return f"{h12}:{minute:02d} {half}"
    if style == "cal":
        return f"{h12}{half.lower()}" if minute == 0 else f"{h12}:{minute:02d}{half.lower()}"
    raise ValueError(f"unknown time style {style!r}")


def read_time(text: str) -> str:
    """``HH:MM`` (24-hour) of a written time: "2:05 PM", "2pm", "14:05"."""
    found = re.fullmatch(r"\s*(\d{1,2})(?::(\d{2}))?\s*([AaPp][Mm])?\s*", text)
    if found is None:
        raise ValueError(f"cannot read the time {text!r}")
    hour, minute = int(found.group(1)), int(found.group(2) or 0)
    if found.group(3):
        hour = hour % 12 + (12 if found.group(3).lower() == "pm" else 0)
    return f"{hour:02d}:{minute:02d}"
