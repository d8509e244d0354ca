"""Extraction programs: where a verified answer's values live in its document, to read the next one.

Templated documents — one shop's order confirmations, one carrier's shipping notices — share a layout
and differ in values. From one verified (document, answer) pair :func:`learn` writes, for each key, a
small program: the **anchor** that points at the value (the label of its field, "Total:", or the words
right before it in a sentence, "to account ending"), which **part** of what the anchor points at is
the value (the whole field, the n-th date in it, the n-th comma-separated segment) and the **form**
that turns the document's spelling into the JSON value (a copy, a number, a date re-written as
``YYYY-MM-DD``, a 12-hour time as ``HH:MM``, "Yes" as ``true``). A program is kept only if running it
on its own document gives back the answer's value exactly; a key whose value the document does not
hold (computed, invented, or ambiguous) gets no program and is always asked of the model.

:func:`run` applies a program to a new document. It answers only when the anchor points at exactly one
place and the value there has the learned kind; anything else is ``MISSING`` and the key is patched.

A program is **confirmed** when two independent model answers agree with it: the answer it was
learned from, and the answer to a later document of the same layout, for which the earlier program
read the same value (see ``JsonFamily.prepare``). Only confirmed programs serve values without the
model, so a value the model got wrong once (the subtotal for the total) is never read from every
later document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import _patterns as P
from ._text import Field, TextIndex

__all__ = ["Program", "MISSING", "learn", "run", "anchored", "describe", "programs_from_data"]

#: What :func:`run` returns when a program cannot read its value from a document.
MISSING: Any = object()

#: Kinds a value can be picked out of a longer field by (the n-th date in "Mon 3 Mar, 9:00–10:00").
_SPOTTED = (P.KIND_DATE, P.KIND_TIME, P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_NUMBER)
_SEGMENT_SPLIT = re.compile(r"\s*(?:[,;|<>()\[\]]|\s[-–—]\s)\s*")
_STRIP = " \t\"'`*.:"
_BOUNDARY = re.compile(r"[;:\n|()\[\]{}!?<>]|\.(?!\d)|,(?!\d{3}(?!\d))")
_WORD = re.compile(r"[A-Za-z][\w'’-]*|[#№]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HHMM = re.compile(r"[0-2]\d:[0-5]\d")
_REACH = 80  # characters after an anchor's words in which its value must stand


@dataclass(frozen=True, slots=True)
class Program:
    """How to read one key's value from a document of a known layout."""

    key: str
    anchor: str  # "field": the field's label; "after": the words right before the value
    how: str  # "field" | "after" | "phrase" (a boolean said in words) | "absent" (null: no such value)
    part: str = "whole"  # "whole" | "kind" (the index-th value of kind) | "segment" (the index-th segment)
    kind: str = ""  # the document's kind of value (a P.KIND_*)
    index: int = 0
    form: str = "copy"  # copy | lower | upper | number | integer | date-iso | date-dmy | date-mdy | time-24 | bool | e164
    confirmed: bool = False

    def to_data(self) -> dict[str, Any]:
        return {"key": self.key, "anchor": self.anchor, "how": self.how, "part": self.part, "kind": self.kind,
                "index": self.index, "form": self.form, "confirmed": self.confirmed}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Program:
        return cls(str(data["key"]), str(data.get("anchor", "")), str(data["how"]), str(data.get("part", "whole")),
                   str(data.get("kind", "")), int(data.get("index", 0)), str(data.get("form", "copy")),
                   bool(data.get("confirmed", False)))


def programs_from_data(data: Any) -> dict[str, Program]:
    """The programs stored in ``Entry.prepared["programs"]`` (malformed ones are dropped)."""
    out: dict[str, Program] = {}
    if isinstance(data, Mapping):
        for key, item in data.items():
            try:
                out[str(key)] = Program.from_data(item)
            except (KeyError, TypeError, ValueError):
                continue
    return out


# -- learning ----------------------------------------------------------------------------------------


def learn(index: TextIndex, key: str, value: Any, *, absent: bool = False, phrased: bool | None = None) -> Program | None:
    """The program that reads ``value`` for ``key`` from ``index``'s document, or ``None``.

    ``absent``: the document visibly lacks a value for the key (so ``null`` is a reading of it);
    ``phrased``: the yes/no the document says for the key in words (grounding's rule for booleans).
    """
    if value is None:
        return Program(key, "", "absent") if absent else None
    if isinstance(value, (list, dict)):
        return None  # lists and nested objects are asked of the model
    if isinstance(value, bool):
        program = _learn_field_bool(index, key, value)
        if program is None and phrased is value:
            program = Program(key, "", "phrase")
        return program
    for candidate in _candidates(index, key, value):
        if _read(index, candidate) == value and not _other_reading(index, candidate, value):
            return candidate
    return None


def _learn_field_bool(index: TextIndex, key: str, value: bool) -> Program | None:
    for f in index.fields:
        said = P.bool_word(index.text[f.start : f.end].strip(_STRIP))
        if said is value and _unique_label(index, f.label):
            return Program(key, _norm_label(f.label), "field", form="bool")
    return None


def _candidates(index: TextIndex, key: str, value: Any) -> list[Program]:
    """Programs that could read ``value``, most specific first: a field's whole value, a value of one
    kind in a field, a segment of a field; then the same after the words that precede it."""
    out: list[Program] = []
    for start, end, dkind in _spellings(index, value):
        form = _form(index.text[start:end], value, dkind)
        if form is None:
            continue
        field = _field_at(index, start, end)
        if field is not None and _unique_label(index, field.label):
            out += _parts(index, Program(key, _norm_label(field.label), "field", kind=dkind, form=form), start, end)
        words = _words_before(index.text, start)
        if words:
            out += _parts(index, Program(key, words, "after", kind=dkind, form=form), start, end)
    return out


def _spellings(index: TextIndex, value: Any) -> list[tuple[int, int, str]]:
    """Where the document spells ``value`` (any spelling it normalises to), with the document's kind."""
    vkind = P.value_kind(value)
    found, _how = index.find(value, vkind)
    out = []
    for o in found:
        spelled = index.text[o.start : o.end].strip()
        out.append((o.start, o.end, _doc_kind(index, o.start, o.end, spelled)))
    return out


def _doc_kind(index: TextIndex, start: int, end: int, spelled: str) -> str:
    for kind, found in ((P.KIND_DATE, index.dates), (P.KIND_TIME, index.times), (P.KIND_EMAIL, index.emails),
                        (P.KIND_URL, index.urls), (P.KIND_PHONE, index.phones), (P.KIND_NUMBER, index.numbers)):
        if any(f.start == start and f.end == end for f in found):
            return kind
    return P.value_kind(spelled)


def _parts(index: TextIndex, base: Program, start: int, end: int) -> list[Program]:
    """``base`` with each part that picks ``[start, end)`` out of the region its anchor points at."""
    region = _region(index, base)
    if region is None or not (region[0] <= start and end <= region[1]):
        return []
    out = []
    if (start, end) == _trimmed(index.text, region):
        out.append(replace(base, part="whole"))
    if base.kind in _SPOTTED:
        spots = _spots(index, base.kind, region)
        at = next((i for i, (s, e) in enumerate(spots) if s == start and e == end), None)
        if at is not None:
            out.append(replace(base, part="kind", index=at))
    segments = _segments(index.text, region)
    at = next((i for i, (s, e) in enumerate(segments) if s == start and e == end), None)
    if at is not None:
        out.append(replace(base, part="segment", index=at))
    return out


# -- running -----------------------------------------------------------------------------------------


def anchored(index: TextIndex, program: Program) -> bool:
    """``program``'s anchor points at exactly one place in ``index``'s document."""
    return _region(index, program) is not None


def describe(program: Program) -> str:
    """The program in words, for ``Result.detail``."""
    if program.how == "field":
        return f"the field labelled {program.anchor!r}"
    if program.how == "after":
        return f"the value after {program.anchor!r}"
    if program.how == "phrase":
        return "the yes/no its words say"
    return "its absence"


def run(index: TextIndex, program: Program, *, absent: bool = False, phrased: bool | None = None) -> Any:
    """The value ``program`` reads from ``index``'s document, or :data:`MISSING`."""
    if program.how == "absent":
        return None if absent else MISSING
    if program.how == "phrase":
        return MISSING if phrased is None else phrased
    return _read(index, program)


def _read(index: TextIndex, program: Program) -> Any:
    region = _region(index, program)
    if region is None:
        return MISSING
    if program.part == "whole":
        start, end = _trimmed(index.text, region)
    elif program.part == "kind":
        spots = _spots(index, program.kind, region)
        if program.index >= len(spots):
            return MISSING
        start, end = spots[program.index]
    else:
        segments = _segments(index.text, region)
        if program.index >= len(segments):
            return MISSING
        start, end = segments[program.index]
    spelled = index.text[start:end].strip()
    if not spelled or (program.kind and not _same_kind(_doc_kind(index, start, end, spelled), program.kind)):
        return MISSING  # the anchor points somewhere else now: not the same kind of value
    return _apply(program.form, spelled, index, start, end)


def _region(index: TextIndex, program: Program) -> tuple[int, int] | None:
    if program.how == "field":
        fields = [f for f in index.fields if _norm_label(f.label) == program.anchor]
        return (fields[0].start, fields[0].end) if len(fields) == 1 else None
    matches = list(_anchor_pattern(program.anchor).finditer(index.text))
    if len(matches) != 1:
        return None  # gone, or said twice: which one is meant is not certain
    start = matches[0].end()
    while start < len(index.text) and index.text[start] in " \t":
        start += 1
    return start, _region_after(index.text, start)


# -- forms: the document's spelling → the JSON value -------------------------------------------------


def _form(spelled: str, value: Any, dkind: str) -> str | None:
    """The form that turns ``spelled`` into ``value`` (``None`` when none of them does)."""
    spelled = spelled.strip()
    if isinstance(value, bool):
        return "bool" if P.bool_word(spelled.strip(_STRIP)) is value else None
    if isinstance(value, (int, float)):
        number = P.parse_number(spelled)
        if number is None or abs(number - float(value)) > 1e-9:
            return None
        return "integer" if isinstance(value, int) else "number"
    if not isinstance(value, str):
        return None
    if spelled == value:
        return "copy"
    if spelled.lower() == value:
        return "lower"
    if spelled.upper() == value:
        return "upper"
    if dkind == P.KIND_DATE and _ISO_DATE.fullmatch(value):
        readings = P.parse_date(spelled)
        wanted = tuple(int(x) for x in value.split("-"))
        if len(readings) == 1 and readings[0] == wanted:
            return "date-iso"
        if len(readings) == 2:  # 03/04/2025: which reading the answer took is how the layout writes dates
            if readings[0] == wanted:
                return "date-dmy"
            if readings[1] == wanted:
                return "date-mdy"
        return None
    if dkind == P.KIND_TIME and _HHMM.fullmatch(value) and P.parse_time(spelled) == int(value[:2]) * 60 + int(value[3:]):
        return "time-24"
    if dkind == P.KIND_PHONE and value.startswith("+") and P.digits(value) == P.digits(spelled) and spelled.lstrip().startswith("+"):
        return "e164"
    return None


def _apply(form: str, spelled: str, index: TextIndex, start: int, end: int) -> Any:
    if form == "copy":
        return spelled
    if form == "lower":
        return spelled.lower()
    if form == "upper":
        return spelled.upper()
    if form in ("number", "integer"):
        number = P.parse_number(spelled)
        if number is None:
            return MISSING
        if form == "integer":
            return int(number) if number == int(number) else MISSING
        return number
    if form == "bool":
        said = P.bool_word(spelled.strip(_STRIP))
        return MISSING if said is None else said
    if form.startswith("date-"):
        readings = P.parse_date(spelled)
        if form == "date-iso" and len(readings) == 1:
            reading = readings[0]
        elif form in ("date-dmy", "date-mdy") and len(readings) == 2:
            reading = readings[0] if form == "date-dmy" else readings[1]
        elif form in ("date-dmy", "date-mdy") and len(readings) == 1:
            reading = readings[0]  # 25/03/2025 has one reading whatever the order
        else:
            return MISSING
        year, month, day = reading
        if year is None or day is None:
            return MISSING
        return f"{year:04d}-{month:02d}-{day:02d}"
    if form == "time-24":
        minutes = P.parse_time(spelled)
        return MISSING if minutes is None else f"{minutes // 60:02d}:{minutes % 60:02d}"
    if form == "e164":
        return "+" + P.digits(spelled) if spelled.lstrip().startswith("+") else MISSING
    return MISSING


# -- places in a document ------------------------------------------------------------------------------


#: Kinds one layout may spell a value of a field in from one document to the next: a city is a name
#: in one and a phrase in another, an order number an ID or a code.
_KIND_GROUPS = ({P.KIND_NAME, P.KIND_TEXT}, {P.KIND_ID, P.KIND_CODE}, {P.KIND_NUMBER, P.KIND_MONEY})


def _same_kind(found: str, learned: str) -> bool:
    return found == learned or any(found in g and learned in g for g in _KIND_GROUPS)


def _norm_label(label: str) -> str:
    return " ".join(label.casefold().split())


def _unique_label(index: TextIndex, label: str) -> bool:
    norm = _norm_label(label)
    return sum(1 for f in index.fields if _norm_label(f.label) == norm) == 1


def _field_at(index: TextIndex, start: int, end: int) -> Field | None:
    holders = [f for f in index.fields if f.start <= start and end <= f.end]
    return min(holders, key=lambda f: f.end - f.start) if holders else None


def _words_before(text: str, start: int) -> str:
    """Up to three words right before ``start`` in the same clause ("to account ending")."""
    begin = max((m.end() for m in _BOUNDARY.finditer(text, max(0, start - 60), start)), default=max(0, start - 60))
    between = text[begin:start]
    if between.strip() and not _WORD.fullmatch(between.split()[-1].strip(_STRIP) or "-"):
        return ""  # something other than words (or "#") stands right before the value
    words = _WORD.findall(between)[-3:]
    return " ".join(w.casefold() for w in words)


def _anchor_pattern(words: str) -> re.Pattern[str]:
    body = r"\W*".join(re.escape(w) for w in words.split())
    return re.compile(rf"(?<![\w'’-]){body}(?![\w'’-])[ \t:]*", re.IGNORECASE)


def _region_after(text: str, start: int) -> int:
    stop = _BOUNDARY.search(text, start, start + _REACH)
    return stop.start() if stop else min(len(text), start + _REACH)


def _trimmed(text: str, region: tuple[int, int]) -> tuple[int, int]:
    start, end = region
    while start < end and text[start] in _STRIP:
        start += 1
    while end > start and text[end - 1] in _STRIP:
        end -= 1
    return start, end


def _spots(index: TextIndex, kind: str, region: tuple[int, int]) -> list[tuple[int, int]]:
    found = {P.KIND_DATE: index.dates, P.KIND_TIME: index.times, P.KIND_EMAIL: index.emails, P.KIND_URL: index.urls,
             P.KIND_PHONE: index.phones, P.KIND_NUMBER: index.plain_numbers}.get(kind, [])
    return list(dict.fromkeys((f.start, f.end) for f in found if region[0] <= f.start and f.end <= region[1]))


def _segments(text: str, region: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    pos = region[0]
    for m in [*_SEGMENT_SPLIT.finditer(text, region[0], region[1]), None]:
        end = m.start() if m is not None else region[1]
        start, stop = _trimmed(text, (pos, end))
        if stop > start:
            out.append((start, stop))
        if m is not None:
            pos = m.end()
    return out


def _other_reading(index: TextIndex, program: Program, value: Any) -> bool:
    """A "kind" program whose region also holds another value that reads as ``value``: which one is
    meant is not certain (never true for "whole" and "segment")."""
    if program.part != "kind":
        return False
    region = _region(index, program)
    if region is None:
        return True
    return sum(1 for s, e in _spots(index, program.kind, region)
               if _apply(program.form, index.text[s:e].strip(), index, s, e) == value) > 1
