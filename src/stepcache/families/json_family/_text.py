"""Where values are in a request text: its "label: value" fields, and every email, URL, phone, date,
time and number in it, each with the labels and words around it.

:class:`TextIndex` reads a text once; grounding (``_ground.py``) asks it where a value occurs (after
normalisation) and what names it there. Everything here is about the text, nothing about keys.
"""

from __future__ import annotations

import difflib
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import _keys as K
from . import _patterns as P

__all__ = ["TextIndex", "Occurrence", "Field", "field_labels", "phrase_spans", "norm", "used_values", "equivalent"]

_DETERMINERS = frozenset({"the", "a", "an", "her", "his", "my", "our", "their", "its", "your", "this", "that"})
# A decimal point or a thousands comma inside a number ends no clause: "SALES TAX 8.25%  9.82".
_CLAUSE_END = re.compile(r"[;:\n|()\[\]{}!?]|\.(?!\d)")
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_NEAR_END = re.compile(r"[;:\n|()\[\]{}!?<>]|\.(?!\d)|,(?!\d{3}(?!\d))")
_IS_LABEL = re.compile(r"(?P<label>(?:[A-Za-z][\w'’-]*\s+){0,2}[A-Za-z][\w'’-]*)\s+(?:is|are|was|were)\s+[\"'(]?\s*$")
_FIELD = re.compile(
    r"(?:^|(?<=[\n;,|{(\[•:])|(?<=\.\s))[ \t]*(?:[-*•+]\s+|\d{1,2}[.)]\s+)?[*_]{0,2}[\"'`]?"
    r"(?P<label>[A-Za-z][\w'’./&() #-]{0,38}?[\w)#])[\"'`]?[*_]{0,2}[ \t]*(?:[:=\uff1a]|->|=>)(?![/\\\d])[ \t]*",
    re.MULTILINE,
)
_LINE_FIELD = re.compile(
    r"^[ \t]*(?P<label>[A-Za-z][A-Za-z'’]*(?:[ \t]+[A-Za-z][A-Za-z'’]*){0,2})[ \t]+"
    r"(?P<value>[$€£¥]?[ \t]?\d[\d,.]*(?:[ \t]?(?:[A-Z]{3}|%))?)[ \t]*$",
    re.MULTILINE,
)
_VALUE_END = re.compile(r"[;\n|]|\.(?=\s+[A-Z]|\s*$)")
TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-_/#.][A-Za-z0-9]+)*")
_MAX_LABEL_WORDS = 4


@dataclass(frozen=True, slots=True)
class Occurrence:
    """Where a value occurs in the text, and what names it there."""

    start: int
    end: int
    labels: tuple[str, ...] = ()  # "City" in "City: Seville"; a table's column header
    before: tuple[str, ...] = ()  # up to three words before it in the same clause
    after: tuple[str, ...] = ()  # up to two words after it ("34 years old")
    #: Labels of a field that holds it further in ("From" for the email in "From: Olivia <o@x.com>"):
    #: evidence *for* a key that matches, never against another.
    within: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "span": [self.start, self.end],
            "labels": list(self.labels),
            "before": list(self.before),
            "after": list(self.after),
        }
        if self.within:
            data["within"] = list(self.within)
        return data


@dataclass(frozen=True, slots=True)
class Field:
    """A "label: value" pair written in the text."""

    label: str
    start: int  # of the value
    end: int


class TextIndex:
    """One request text, read once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.folded = text.casefold()
        self.fields = _fields(text)
        self.dates = list(P.dates_in(text))
        self.times = list(P.times_in(text))
        self.emails = list(P.emails_in(text))
        self.urls = _disjoint(list(P.urls_in(text)), self.emails)
        self.phones = list(P.phones_in(text))
        self.numbers = _disjoint(list(P.numbers_in(text)), self.times + self.phones + self.emails + self.urls)
        #: Numbers standing on their own: not a part of a date or a time ("2024" in "April 20, 2024").
        self.plain_numbers = _disjoint(self.numbers, self.dates + self.times)
        self.words: list[str] | None = None
        self._field_starts = [f.start for f in self.fields]
        self._occurrences: dict[tuple[int, int], Occurrence] = {}

    def find(self, value: Any, vkind: str) -> tuple[list[Occurrence], str]:
        spans: list[tuple[int, int]] = []
        how = ""
        if isinstance(value, bool):
            spans = phrase_spans(json_literal(value), self.text)
            how = "literal"
            if not spans:
                spans = [
                    (f.start, f.end)
                    for f in self.fields
                    if P.bool_word(self.text[f.start : f.end].strip(" \t\"'`*,.")) is value
                ]
                how = "boolean"
        elif isinstance(value, (int, float)):
            spans = [(n.start, n.end) for n in self.numbers if abs(n.norm - float(value)) < 1e-9]
            how = "number"
        elif isinstance(value, str):
            spans, how = self.find_string(value.strip(), vkind)
        occurrences = [self.occurrence(s, e) for s, e in dict.fromkeys(spans)]
        return occurrences, how if occurrences else ""

    def find_string(self, value: str, vkind: str) -> tuple[list[tuple[int, int]], str]:
        spans = phrase_spans(value, self.text)
        if spans:
            return spans, "exact" if any(self.text[s:e] == value for s, e in spans) else "case"
        finders: list[tuple[str, list[tuple[int, int]]]] = []
        if vkind == P.KIND_EMAIL:
            finders.append(("case", [(f.start, f.end) for f in self.emails if f.norm == value.casefold()]))
        elif vkind == P.KIND_URL:
            url = P.url_norm(value)
            finders.append(("url", [(f.start, f.end) for f in self.urls if f.norm == url]))
        elif vkind in (P.KIND_DATE, P.KIND_DATETIME):
            readings = P.parse_date(value) or [f.norm for f in P.dates_in(value)]
            dates = [(f.start, f.end) for f in self.dates if any(P.same_date(f.norm, r) for r in readings)]
            if vkind == P.KIND_DATETIME:
                minutes = {f.norm for f in P.times_in(value)}
                times = [(f.start, f.end) for f in self.times if f.norm in minutes]
                dates = dates + times if dates and times else []
            finders.append(("date", dates))
        elif vkind == P.KIND_TIME:
            minutes_of = P.parse_time(value)
            finders.append(("time", [(f.start, f.end) for f in self.times if f.norm == minutes_of]))
        elif vkind == P.KIND_PHONE:
            finders.append(("phone", [(f.start, f.end) for f in self.phones if P.same_phone(f.norm, P.digits(value))]))
        number = P.parse_number(value)
        if number is not None:
            finders.append(("number", [(n.start, n.end) for n in self.numbers if abs(n.norm - number) < 1e-9]))
        finders.append(("punctuation", _loose_spans(value, self.text)))
        for how, found in finders:
            if found:
                return found, how
        return [], ""

    def occurrence(self, start: int, end: int) -> Occurrence:
        """The labels and words around ``text[start:end]`` (memoised: grounding asks often)."""
        found = self._occurrences.get((start, end))
        if found is None:
            found = self._occurrences[(start, end)] = self._read_occurrence(start, end)
        return found

    def _read_occurrence(self, start: int, end: int) -> Occurrence:
        last = bisect_right(self._field_starts, start)
        holders = [f for f in self.fields[max(0, last - 4) : last] if f.start <= start < f.end]
        labels = [f.label for f in holders if not self.text[f.start : start].strip(" \t\"'`*([")]
        within = tuple(f.label for f in holders if f.label not in labels)
        clause_start = max(
            (m.end() for m in _CLAUSE_END.finditer(self.text, max(0, start - 80), start)), default=max(0, start - 80)
        )
        before_text = self.text[clause_start:start]
        is_label = _IS_LABEL.search(before_text)
        near_start = max((m.end() for m in _NEAR_END.finditer(before_text)), default=0)
        if is_label is not None and not labels:
            words = [w for w in is_label.group("label").split() if w.lower() not in _DETERMINERS and not _possessive(w)]
            if words:
                labels.append(" ".join(words))
        labels += self.column_header(start)
        end_match = _NEAR_END.search(self.text, end, end + 60)
        after_text = self.text[end : end_match.start() if end_match else end + 60]
        # Context words stay within the list item: "status active, id 12345" does not word 12345 as a status.
        return Occurrence(
            start,
            end,
            tuple(dict.fromkeys(labels)),
            tuple(_WORD.findall(before_text[near_start:])[-3:]),
            tuple(_WORD.findall(after_text)[:2]),
            within,
        )

    def column_header(self, start: int) -> list[str]:
        if "|" not in self.text:
            return []
        line_start = self.text.rfind("\n", 0, start) + 1
        line_end = self.text.find("\n", start)
        line = self.text[line_start : line_end if line_end >= 0 else len(self.text)]
        if line.count("|") < 2:
            return []
        column = line[: start - line_start].count("|") - (1 if line.lstrip().startswith("|") else 0)
        rows = self.text[:line_start].splitlines()
        table: list[str] = []
        for row in reversed(rows):
            if row.count("|") < 2:
                break
            table.insert(0, row)
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        labels = []
        header_rows = [r for r in table if not set(r.replace("|", "").strip()) <= set("-: ")]
        if header_rows and len(table) >= 2:
            header = [c.strip() for c in header_rows[0].strip().strip("|").split("|")]
            if 0 <= column < len(header):
                labels.append(header[column])
        if column == 1 and len(cells) == 2:
            labels.append(cells[0])  # a two-column "| City | Seville |" table: the row names the value
        return [label for label in labels if label and len(label.split()) <= _MAX_LABEL_WORDS]

    def whole(self, occurrence: Occurrence, value: Any) -> bool:
        left = (
            self.text[occurrence.start - 2 : occurrence.start]
            if occurrence.start >= 2
            else " " + self.text[: occurrence.start]
        )
        right = self.text[occurrence.end : occurrence.end + 2]
        return not (re.fullmatch(r".?\w[-_/#]", left.rjust(2)) or re.match(r"[-_/#]\w", right))

    def truncated(self, value: Any) -> str | None:
        """The longer ID-like token ``value`` is a cut-off part of ("68241" of "HC-68241")."""
        text = str(value).strip()
        if isinstance(value, bool) or not text or not any(ch.isdigit() for ch in text) or " " in text:
            return None
        if any(t.group(0).casefold() == text.casefold() for t in TOKEN.finditer(self.text)):
            return None
        for token in TOKEN.finditer(self.text):
            whole = token.group(0)
            at = whole.casefold().find(text.casefold())
            if at < 0 or whole.casefold() == text.casefold():
                continue
            prefix, suffix = whole[:at], whole[at + len(text) :]
            if P.value_kind(whole) not in (P.KIND_ID, P.KIND_NUMBER):
                continue  # dates, times, phones, prices: their parts are values of their own
            glued_prefix = bool(prefix) and (prefix[-1] in "-_/#" or (len(prefix) >= 2 and prefix.isupper()))
            glued_suffix = bool(suffix) and suffix[0] in "-_/#"
            if glued_prefix or glued_suffix:
                return whole
        return None

    def of_kind(self, kind: str) -> list[P.Found]:
        return {
            K.EMAIL: self.emails,
            K.URL: self.urls,
            K.PHONE: self.phones,
            K.DATE: self.dates,
            K.TIME: self.times,
            K.DATETIME: self.dates,
            K.MONEY: self.numbers,
            K.NUMBER: self.numbers,
        }.get(kind, [])

    def listed_with(self, value: Any) -> list[str]:
        """The other items of a field's list that holds ``value`` ("positive, negative")."""
        if not isinstance(value, str):
            return []
        for f in self.fields:
            items = [i.strip(" \t\"'`.") for i in re.split(r",|/|\bor\b|\band\b", self.text[f.start : f.end])]
            if len(items) > 1 and any(i.casefold() == value.strip().casefold() for i in items):
                return [i for i in items if i and i.casefold() != value.strip().casefold()]
        return []

    def near_token(self, value: Any, vkind: str) -> str | None:
        """An email, URL or ID of the text that ``value`` is a one- or two-character miscopy of."""
        if not isinstance(value, str) or vkind not in (P.KIND_EMAIL, P.KIND_URL, P.KIND_ID) or len(value) < 6:
            return None
        found = {P.KIND_EMAIL: self.emails, P.KIND_URL: self.urls}.get(vkind)
        spelled = (
            [self.text[f.start : f.end] for f in found]
            if found is not None
            else [t.group(0) for t in TOKEN.finditer(self.text) if P.value_kind(t.group(0)) == P.KIND_ID]
        )
        for other in spelled:
            if len(other) == len(value) or abs(len(other) - len(value)) <= 2:
                distance = sum(1 for _ in difflib.ndiff(other.casefold(), value.casefold()) if _[0] != " ")
                if 0 < distance <= 4 and other.casefold() != value.casefold():
                    return other
        return None

    def near_miss(self, value: Any) -> str | None:
        """The request's word that a one-word string ``value`` is a near-miss copy of ("Lisboa" → "Lisbon").

        Flagged only when the request does not contain the word at all and one request word is almost
        the same: equal length ±1, the same first two letters, and a difflib ratio ≥ 0.8. Values the
        model makes up (an occupation) resemble no request word and are left alone.
        """
        if not isinstance(value, str):
            return None
        words = value.split()
        if not 1 <= len(words) <= 6 or not all(re.fullmatch(r"\w+(?:[-'.]\w+)*[,.]?", w) for w in words):
            return None
        if self.words is None:
            self.words = [str(w) for w in dict.fromkeys(re.findall(r"\w+(?:[-'.]\w+)*", self.text))]
        # Every word but one is in the text as written, and that one is a near-miss of a text word:
        # "Grace Akafor" for "Grace Okafor". A made-up phrase has no such near twin.
        missing = [w.strip(",.") for w in words if not phrase_spans(w.strip(",."), self.text)]
        if len(missing) != 1:
            return None
        word = missing[0]
        if len(word) < 4 or not any(c.isalpha() for c in word) or word.casefold() in self.folded:
            return None
        for candidate in self.words:
            if abs(len(candidate) - len(word)) > 1:
                continue
            ratio = difflib.SequenceMatcher(None, candidate.casefold(), word.casefold()).ratio()
            if len(words) == 1:
                if candidate[:2].casefold() == word[:2].casefold() and ratio >= 0.8:
                    return candidate
            elif ratio >= 0.75:
                # The rest of the phrase pins it down: the corrected phrase must stand in the text.
                fixed = value.replace(word, candidate)
                if phrase_spans(fixed, self.text):
                    return fixed
        return None


# -- helpers ---------------------------------------------------------------------------------------------


def _fields(text: str) -> list[Field]:
    """Every "label: value" the text writes (one to four words of label, the value up to a separator),
    and every line that is a label and one number ("Tax 0.88", "Total 10.63 USD" on a receipt)."""
    matches = [m for m in _FIELD.finditer(text) if len(m.group("label").split()) <= _MAX_LABEL_WORDS]
    out = [Field(m.group("label").strip(), m.start("value"), m.end("value")) for m in _LINE_FIELD.finditer(text)]
    for i, m in enumerate(matches):
        limit = matches[i + 1].start("label") if i + 1 < len(matches) else len(text)
        end_match = _VALUE_END.search(text, m.end(), limit)
        end = end_match.start() if end_match else limit
        while end > m.end() and text[end - 1] in " \t,;\"'`*":
            end -= 1
        if end > m.end():
            out.append(Field(m.group("label").strip(), m.end(), end))
    return sorted(out, key=lambda f: f.start)


def phrase_spans(value: str, text: str) -> list[tuple[int, int]]:
    """Where ``value`` occurs as whole tokens, case and spacing aside ("68241" is not in "HC-68241")."""
    words = value.split()
    if not words:
        return []
    body = r"\s+".join(re.escape(w) for w in words)
    left = r"(?<![\w@])(?<!\w[-_/#])" if re.match(r"\w", value) else ""
    right = r"(?![\w@])(?![-_/#]\w)" if re.search(r"\w$", value) else ""
    return [(m.start(), m.end()) for m in re.finditer(left + body + right, text, re.IGNORECASE)]


def _loose_spans(value: str, text: str) -> list[tuple[int, int]]:
    """``value``'s words in order with any punctuation between ("Baker Street, London" ~ "Baker Street London")."""
    words = re.findall(r"\w+", value)
    if len(words) < 2:
        return []
    pattern = r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)"
    return [(m.start(), m.end()) for m in re.finditer(pattern, text, re.IGNORECASE)]


def json_literal(value: bool) -> str:
    return "true" if value else "false"


def _disjoint(found: list[P.Found], others: list[P.Found]) -> list[P.Found]:
    """``found`` without the items that overlap any of ``others`` (a sorted sweep, not all pairs)."""
    spans = sorted((o.start, o.end) for o in others)
    starts = [a for a, _ in spans]
    reach: list[int] = []  # the furthest end among the first i spans
    for _, b in spans:
        reach.append(max(b, reach[-1]) if reach else b)
    out = []
    for f in found:
        i = bisect_left(starts, f.end)  # the spans that start before f ends
        if not (i and reach[i - 1] > f.start):
            out.append(f)
    return out


def overlaps(a: P.Found, b: P.Found) -> bool:
    return a.start < b.end and b.start < a.end


def number_shape(value: Any) -> tuple[bool, int]:
    """(has decimals, digits before the point) of a number as written: 34 ~ 28, 1815 ~ 1852, not 4821 ~ 5.25."""
    text = str(value).strip().lstrip("$€£¥+-").replace(",", "")
    whole, _, fraction = text.partition(".")
    return bool(fraction.strip("0")), len(P.digits(whole))


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in leaves(v)]
    return [] if P.is_placeholder(value) else [value]


def _possessive(word: str) -> bool:
    return word.endswith(("'s", "’s", "s'"))


def norm(value: Any) -> str:
    """A loose comparison form: numbers by value, strings casefolded and space-collapsed."""
    number = P.parse_number(value) if not isinstance(value, str) or re.search(r"\d", value) else None
    if number is not None:
        return repr(number)
    return " ".join(str(value).casefold().split())


def used_values(answer: Mapping[str, Any], but: str | None) -> set[str]:
    out: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif not P.is_placeholder(value):
            out.add(norm(value))
            if isinstance(value, str):
                out.update(norm(f.norm) for f in P.numbers_in(value))

    for k, v in answer.items():
        if k != but:
            walk(v)
    return out


def equivalent(given: str, value: Any) -> bool:
    if norm(given) == norm(value):
        return True
    if isinstance(value, str):
        readings, other = P.parse_date(value), P.parse_date(given)
        if readings and other and any(P.same_date(a, b) for a in readings for b in other):
            return True
        t1, t2 = P.parse_time(value), P.parse_time(given)
        if t1 is not None and t1 == t2:
            return True
        d1, d2 = P.digits(value), P.digits(given)
        if len(d1) >= 7 and P.same_phone(d1, d2):
            return True
        if value.casefold() in given.casefold():
            return True
    return False


def field_labels(text: str) -> Iterable[str]:
    """The labels of every "label: value" in ``text`` (for tests and extraction programs)."""
    return [f.label for f in _fields(text)]
