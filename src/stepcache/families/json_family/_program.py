"""Extraction programs: where a verified answer's values live in its document, to read the next one.

Templated documents — one shop's order confirmations, one carrier's shipping notices — share a layout
and differ in values. From one verified (document, answer) pair :func:`learn` writes, for each key, a
small program:

* the **anchor** that points at a place in the document, one of
  - ``field``: the label of the value's field ("Total:", "Order #:");
  - ``shape``: the value's line with every value in it masked ("SUBTOTAL <>", "<> <> REG <> TRN <>"),
    for lines that label their values without a colon;
  - ``heading``: a heading line ("Shipping address:", "Guests") and how many lines below it the value
    stands;
  - ``after``: the closest words before the value in its sentence that occur once in the document
    ("card payment of", "invited you to");
* the **part** of the place that is the value: all of it, the n-th value of a kind in it (the second
  number on "VAT 19 % 1.295,80 €"), the n-th segment of it (split at commas, brackets, " · "), or, for a
  list, every value of a kind in it (the guests' emails);
* the **form** that turns the document's spelling into the JSON value: a copy, a number, a date
  re-written as ``YYYY-MM-DD`` (in the order the layout writes day and month), a time as ``HH:MM``, a
  yes/no as ``true``/``false``.

A program is kept only if running it on its own document gives back the answer's value exactly, and
the anchors closest to the key's meaning are tried first; a key whose value the document does not
hold (computed, invented) gets no program and is always asked of the model. :func:`run` answers only
when the anchor points at exactly one place and the value there has the learned kind; anything else is
``MISSING`` and the key is patched.

A program is **confirmed** when two independent model answers agree with it (``JsonFamily.prepare``):
only confirmed programs serve values without the model, so a value the model got wrong once (the
subtotal for the total) is never read from every later document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import _patterns as P
from ._text import Field, TextIndex

__all__ = ["Program", "MISSING", "learn", "run", "anchored", "describe", "programs_from_data"]

#: What :func:`run` returns when a program cannot read its value from a document.
MISSING: Any = object()

#: Kinds a value can be picked out of a longer place by (the n-th date in "Mon 3 Mar, 9:00–10:00").
_SPOTTED = (P.KIND_DATE, P.KIND_TIME, P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_NUMBER)
_SEGMENT_SPLIT = re.compile(r"\s*(?:[,;|<>()\[\]]|\s[-–—·•⋅]\s|\s{2,})\s*")
#: Coarser: commas stay inside a piece ("Manchester, United Kingdom" of "Acme · Manchester, United Kingdom").
_PIECE_SPLIT = re.compile(r"\s*(?:[;|<>()\[\]]|\s[-–—·•⋅]\s|\s{2,})\s*")
_STRIP = " \t\"'`*.:•-"
# A period ends a sentence after a word of four letters or more ("... on its way."), not after an
# abbreviation ("Ref. JR-24415", "No. 7", "Dr. Mensah").
_SENTENCE_END = re.compile(r"\n|[;!?]|(?:(?<=[a-z]{4})|(?<=[A-Z]{3})|(?<=[0-9)]))\.(?=\s+[A-Z]|\s*$)")
_TOKEN = re.compile(r"[A-Za-z][\w'’-]*|[#№]|\S")
_WORD = re.compile(r"[A-Za-z][\w'’-]*|[#№]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HHMM = re.compile(r"[0-2]\d:[0-5]\d")
_HEADING = re.compile(r"^[ \t]*[*#_]*[ \t]*(?P<label>[A-Za-z][\w'’ /&.-]{0,40}?)[ \t]*:?[*_]*[ \t]*$")
_MAX_BELOW = 6  # lines below a heading a value may stand
_START = "^"  # the anchor of a "line" program that counts from the document's first line


@dataclass(frozen=True, slots=True)
class Program:
    """How to read one key's value from a document of a known layout."""

    key: str
    anchor: str  # the label, the masked line, the heading, or the words before the value
    how: str  # "field" | "heading" | "after" | "column" | "line" | "shape" | "phrase" (a yes/no in words) | "absent" (null)
    part: str = "whole"  # "whole" | "kind" | "segment" | "piece" | "between" | "all" (every value of the kind: a list)
    kind: str = ""  # the document's kind of value (a P.KIND_*)
    index: int = 0
    form: str = (
        "copy"  # copy | lower | upper | number | integer | date-iso | date-dmy | date-mdy | time-24 | bool | e164
    )
    confirmed: bool = False
    below: int = 0  # "heading", "line": how many lines below the anchor the value stands
    column: str = ""  # "column": the header of the value's column
    left: str = ""  # "between": the words right before the value ...
    right: str = ""  # ... and right after it
    # "heading", "line": what the lines under the anchor looked like (:func:`_line_form`): the value's
    # line, the lines above it, and how many lines its block had
    line: str = ""
    path: str = ""
    block: int = 0
    # "kind": what stands before the value in its place (:func:`_line_form`; "" when the value comes
    # first), so "Doors TBC · Show 8:00pm" is not read as doors at 8 pm
    lead: str | None = None

    def to_data(self) -> dict[str, Any]:
        data = {
            "key": self.key,
            "anchor": self.anchor,
            "how": self.how,
            "part": self.part,
            "kind": self.kind,
            "index": self.index,
            "form": self.form,
            "confirmed": self.confirmed,
            "below": self.below,
        }
        data.update(
            {
                k: v
                for k, v in (
                    ("column", self.column),
                    ("left", self.left),
                    ("right", self.right),
                    ("line", self.line),
                    ("path", self.path),
                    ("block", self.block),
                )
                if v
            }
        )
        if self.lead is not None:
            data["lead"] = self.lead
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Program:
        return cls(
            str(data["key"]),
            str(data.get("anchor", "")),
            str(data["how"]),
            str(data.get("part", "whole")),
            str(data.get("kind", "")),
            int(data.get("index", 0)),
            str(data.get("form", "copy")),
            bool(data.get("confirmed", False)),
            int(data.get("below", 0)),
            str(data.get("column", "")),
            str(data.get("left", "")),
            str(data.get("right", "")),
            str(data.get("line", "")),
            str(data.get("path", "")),
            int(data.get("block", 0)),
            None if data.get("lead") is None else str(data["lead"]),
        )


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


def learn(
    index: TextIndex,
    key: str,
    value: Any,
    *,
    absent: bool = False,
    phrased: bool | None = None,
    names_key: Callable[[str], bool] | None = None,
) -> Program | None:
    """The program that reads ``value`` for ``key`` from ``index``'s document, or ``None``.

    ``absent``: the document visibly lacks a value for the key (so ``null`` is a reading of it);
    ``phrased``: the yes/no the document says for the key in words; ``names_key(text)``: whether an
    anchor's words name the key (those anchors are tried first).
    """
    if value is None:
        empty = [label for label in _empty_labels(index.text) if names_key is not None and names_key(label)]
        if len(empty) == 1:  # "Phone:" left empty on a form: the field, null while it stays empty
            return Program(key, empty[0], "field", form="copy-or-null")
        return Program(key, "", "absent") if absent else None
    if isinstance(value, dict) or (isinstance(value, list) and not value):
        return None  # nested objects are asked of the model
    working = [
        c for c in _candidates(index, key, value) if _read(index, c) == value and not _other_reading(index, c, value)
    ]
    if names_key is not None:
        named = [c for c in working if names_key(c.anchor or c.column)]
        working = named or working  # an anchor naming the key ("Shipping address" for ship_to_city) first
    # The strongest anchors first: a field's label, a heading or a column say what a value is; the
    # words before it less so; the shape of its line least ("• <> - organizer" in a guest list).
    for strength in (("field", "heading", "column"), ("after", "line"), ("shape",)):
        group = [c for c in working if c.how in strength]
        if not group:
            continue
        # The value stands in two places (billing and shipping city alike) and nothing tells which
        # one the key means: no program is learned.
        if len({_place(index, c) for c in group}) == 1:
            return group[0]
        break
    if isinstance(value, bool) and phrased is value and not working:
        return Program(key, "", "phrase")
    return None


def _candidates(index: TextIndex, key: str, value: Any) -> list[Program]:
    """Programs that could read ``value``: for each place the document spells it, each anchor that
    points there and each part that picks it out."""
    out: list[Program] = []
    if isinstance(value, list):
        return _list_candidates(index, key, value)
    for start, end, dkind in _spellings(index, value):
        form = _form(index.text[start:end], value, dkind)
        if form is None:
            continue
        base = Program(key, "", "field", kind=dkind, form=form)
        field = _field_at(index, start, end)
        if field is not None and _unique_label(index, field.label):
            out += _parts(index, replace(base, anchor=_norm(field.label)), start, end)
        heading = _heading_above(index.text, start)
        if heading is not None:
            out += _parts(
                index, _shaped(index, replace(base, how="heading", anchor=heading[0], below=heading[1])), start, end
            )
        column = _column_of(index.text, start)
        if column is not None:
            out += _parts(index, replace(base, how="column", anchor=column[0], column=column[1]), start, end)
        for words in _phrases_before(index.text, start):
            out += _parts(index, replace(base, how="after", anchor=words), start, end)
            left, right = _words_around(index.text, start, end)
            if left and right:
                out.append(replace(base, how="after", anchor=words, part="between", left=left, right=right))
        above = _line_above(index, start)
        if above is not None:
            out += _parts(index, _shaped(index, replace(base, how="line", anchor=above[0], below=above[1])), start, end)
        shape = _shape_of(index, start)  # last: a line's shape holds for fewer documents than its words
        if shape:
            out += _parts(index, replace(base, how="shape", anchor=shape), start, end)
    return out


def _list_candidates(index: TextIndex, key: str, value: list[Any]) -> list[Program]:
    """A list of values of one spotted kind (every email under "Guests"): the place that holds them all."""
    if not all(isinstance(v, str) for v in value):
        return []
    spelled = [_spellings(index, v) for v in value]
    if not all(spelled) or len({kind for found in spelled for _, _, kind in found}) != 1:
        return []
    dkind = spelled[0][0][2]
    if dkind not in _SPOTTED:
        return []
    out: list[Program] = []
    base = Program(key, "", "heading", part="all", kind=dkind, form="copy")
    for start, end, _ in spelled[0]:  # wherever the first item stands, a heading over all of them
        heading = _heading_above(index.text, start)
        if heading is not None:
            out.append(replace(base, anchor=heading[0]))
        field = _field_at(index, start, end)
        if field is not None and _unique_label(index, field.label):
            out.append(replace(base, how="field", anchor=_norm(field.label)))
    return out


def _spellings(index: TextIndex, value: Any) -> list[tuple[int, int, str]]:
    """Where the document spells ``value`` (any spelling it normalises to), with the document's kind."""
    if isinstance(value, bool):
        out = []
        for f in index.fields:
            start, end = _trimmed(index.text, (f.start, f.end))
            if P.yes_no(index.text[start:end]) is value:
                out.append((start, end, ""))
        return out
    found, _how = index.find(value, P.value_kind(value))
    return [(o.start, o.end, _doc_kind(index, o.start, o.end, index.text[o.start : o.end].strip())) for o in found]


def _doc_kind(index: TextIndex, start: int, end: int, spelled: str) -> str:
    for kind, found in (
        (P.KIND_DATE, index.dates),
        (P.KIND_TIME, index.times),
        (P.KIND_EMAIL, index.emails),
        (P.KIND_URL, index.urls),
        (P.KIND_PHONE, index.phones),
        (P.KIND_NUMBER, index.numbers),
    ):
        if any(f.start == start and f.end == end for f in found):
            return kind
    return P.value_kind(spelled)


def _parts(index: TextIndex, base: Program, start: int, end: int) -> list[Program]:
    """``base`` with each part that picks ``[start, end)`` out of the place its anchor points at."""
    region = _region(index, base)
    if region is None or not (region[0] <= start and end <= region[1]):
        return []
    out = []
    if (start, end) == _trimmed(index.text, region):
        out.append(replace(base, part="whole"))
    base = replace(base, lead=_line_form(index, (region[0], start)))
    if base.kind in _SPOTTED:
        spots = _spots(index, base.kind, region)
        at = next((i for i, (s, e) in enumerate(spots) if s == start and e == end), None)
        if at is not None:
            out.append(replace(base, part="kind", index=at))
    segments = _segments(index.text, region)
    at = next((i for i, (s, e) in enumerate(segments) if s == start and e == end), None)
    if at is not None:
        out.append(replace(base, part="segment", index=at))
    pieces = _segments(index.text, region, _PIECE_SPLIT)
    at = next((i for i, (s, e) in enumerate(pieces) if s == start and e == end), None)
    if at is not None:
        out.append(replace(base, part="piece", index=at))
    return out


# -- running -----------------------------------------------------------------------------------------


def anchored(index: TextIndex, program: Program) -> bool:
    """``program``'s anchor points at exactly one place in ``index``'s document."""
    return _region(index, program) is not None


def describe(program: Program) -> str:
    """The program in words, for ``Result.detail``."""
    if program.how == "field":
        return f"the field labelled {program.anchor!r}"
    if program.how == "shape":
        return f"the line {program.anchor!r}"
    if program.how == "heading":
        return f"the lines under {program.anchor!r}"
    if program.how == "after":
        return f"the value after {program.anchor!r}"
    if program.how == "column":
        return f"the column {program.column!r}"
    if program.how == "line" and program.anchor == _START:
        return f"line {program.below + 1} of the document"
    if program.how == "line":
        return f"the line {program.below + 1} below {program.anchor!r}"
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


def _place(index: TextIndex, program: Program) -> tuple[int, int]:
    """Where in the document ``program`` reads its value."""
    return _locate(index, program) or (-1, -1)


def _read(index: TextIndex, program: Program) -> Any:
    region = _region(index, program)
    if region is None:
        if program.form == "copy-or-null" and _empty_labels(index.text).count(program.anchor) == 1:
            return None  # the field is there and empty
        return MISSING
    if program.part == "all":
        spots = _spots(index, program.kind, region)
        return [index.text[s:e].strip() for s, e in spots] if spots else MISSING
    found = _locate(index, program, region)
    if found is None:
        return MISSING
    start, end = found
    if program.part == "kind" and program.lead is not None and _line_form(index, (region[0], start)) != program.lead:
        return MISSING  # something else stands before it now: another value may have taken its place
    spelled = index.text[start:end].strip()
    if not spelled:
        return MISSING
    if program.form != "bool" and program.kind and not _same_kind(_doc_kind(index, start, end, spelled), program.kind):
        return MISSING  # the anchor points somewhere else now: not the same kind of value
    return _apply(program.form, spelled)


def _locate(index: TextIndex, program: Program, region: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """The span of the document ``program`` picks its value from (for a list, the whole place)."""
    region = region or _region(index, program)
    if region is None:
        return None
    if program.part in ("whole", "all"):
        return _trimmed(index.text, region)
    if program.part == "kind":
        spots = _spots(index, program.kind, region)
        return spots[program.index] if program.index < len(spots) else None
    if program.part == "between":
        return _between(index.text, region, program.left, program.right)
    segments = _segments(index.text, region, _PIECE_SPLIT if program.part == "piece" else _SEGMENT_SPLIT)
    return segments[program.index] if program.index < len(segments) else None


def _region(index: TextIndex, program: Program) -> tuple[int, int] | None:
    """The one place in the document ``program``'s anchor points at, or ``None`` (gone, or twice)."""
    text = index.text
    if program.how == "field":
        fields = [f for f in index.fields if _norm(f.label) == program.anchor]
        return (fields[0].start, fields[0].end) if len(fields) == 1 else None
    if program.how == "shape":
        lines = [span for span in _lines(text) if _masked_line(index, span) == program.anchor]
        return lines[0] if len(lines) == 1 else None
    if program.how in ("heading", "line"):
        below = _lines_under(index, program)
        if not below:
            return None
        if program.part == "all":
            return below[0][0], below[-1][1]
        return _nth_line(index, below, program)
    if program.how == "column":
        return _cell_under(text, program.anchor, program.column)
    matches = list(_anchor_pattern(program.anchor).finditer(text))
    if len(matches) != 1:
        return None
    start = matches[0].end()
    stop = _SENTENCE_END.search(text, start)
    return start, stop.start() if stop else len(text)


# -- forms: the document's spelling → the JSON value -------------------------------------------------


def _form(spelled: str, value: Any, dkind: str) -> str | None:
    """The form that turns ``spelled`` into ``value`` (``None`` when none of them does)."""
    spelled = spelled.strip()
    if isinstance(value, bool):
        return "bool" if P.yes_no(spelled) is value else None
    if isinstance(value, (int, float)):
        number = P.parse_number(spelled)
        if number is None or abs(number - float(value)) > 1e-9:
            return None
        return "number"  # 64 in one invoice, 3571.3 in the next: the same field
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
    if (
        dkind == P.KIND_TIME
        and _HHMM.fullmatch(value)
        and P.parse_time(spelled) == int(value[:2]) * 60 + int(value[3:])
    ):
        return "time-24"
    if (
        dkind == P.KIND_PHONE
        and value.startswith("+")
        and P.digits(value) == P.digits(spelled)
        and spelled.lstrip().startswith("+")
    ):
        return "e164"
    return None


def _apply(form: str, spelled: str) -> Any:
    if form == "copy-or-null":
        return None if P.is_placeholder(spelled) else spelled
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
        return int(number) if number == int(number) else (MISSING if form == "integer" else number)
    if form == "bool":
        said = P.yes_no(spelled)
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

#: Kinds one layout may spell a value of a place in from one document to the next: a city is a name
#: in one and a phrase in another, an order number an ID or a code.
_KIND_GROUPS = ({P.KIND_NAME, P.KIND_TEXT}, {P.KIND_ID, P.KIND_CODE}, {P.KIND_NUMBER, P.KIND_MONEY})


def _same_kind(found: str, learned: str) -> bool:
    return found == learned or any(found in g and learned in g for g in _KIND_GROUPS)


_EMPTY_FIELD = re.compile(r"(?m)^[ \t]*(?P<label>[A-Za-z][\w'’ ./&#-]{0,38}?)[ \t]*:[ \t]*$")


def _empty_labels(text: str) -> list[str]:
    """Labels of fields written with nothing after them ("Phone:" on a form left empty)."""
    return [_norm(m.group("label")) for m in _EMPTY_FIELD.finditer(text)]


def _norm(label: str) -> str:
    return " ".join(label.casefold().split())


def _unique_label(index: TextIndex, label: str) -> bool:
    norm = _norm(label)
    return sum(1 for f in index.fields if _norm(f.label) == norm) == 1


def _field_at(index: TextIndex, start: int, end: int) -> Field | None:
    holders = [f for f in index.fields if f.start <= start and end <= f.end]
    return min(holders, key=lambda f: f.end - f.start) if holders else None


def _lines(text: str) -> list[tuple[int, int]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def _line_at(text: str, at: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return start, len(text) if end < 0 else end


_NAME_WORD = re.compile(r"(?<![\w'’-])[A-Z][a-z][\w'’.-]*|(?<![\w'’-])[\w'’-]*\d[\w'’-]*")


def _masked_line(index: TextIndex, span: tuple[int, int]) -> str:
    """A line with its values masked: numbers, dates, times, emails, phones, words with digits and
    capitalised words (names: "Nimbus Outdoor", "Siobhán") become ``<>``; upper-case words stay
    ("SUBTOTAL", "REG", "TRN"): on a line they are how the layout labels it."""
    start, end = span
    values = sorted(
        {
            (f.start, f.end)
            for f in (*index.dates, *index.times, *index.emails, *index.urls, *index.phones, *index.numbers)
            if start <= f.start < end
        }
    )
    out, cut = [], start
    for a, b in values:
        if a >= cut:
            out.append(index.text[cut:a])
            out.append("\0")
            cut = min(b, end)
    out.append(index.text[cut:end])
    words = _NAME_WORD.sub("\0", "".join(out))
    masked = " ".join(words.split()).replace("\0", "<>")
    return re.sub(r"(?:<>\W*){2,}", "<> ", masked).strip().casefold()


def _shape_of(index: TextIndex, at: int) -> str:
    """The masked line of the value at ``at`` when it says what the line holds (some word of its own
    besides the masked values) and occurs once in the document; ``""`` otherwise."""
    span = _line_at(index.text, at)
    shape = _masked_line(index, span)
    if not re.search(r"[a-z]{2,}", shape.replace("<>", "")):
        return ""  # nothing but values: the line does not say what it holds
    same = sum(1 for other in _lines(index.text) if _masked_line(index, other) == shape)
    return shape if same == 1 else ""


_FORM_TOKEN = re.compile(r"\0|[^\W_][\w'’-]*|[^\w\s]")


def _line_form(index: TextIndex, span: tuple[int, int]) -> str:
    """What a line is made of, whatever its values: a value the index finds (a number, a date, a time,
    an email, ...) or a word with digits ``9``, an upper-case code ``C``, capitalised words ``A``,
    other words ``a``, punctuation as it is; a run of one kind is one. "Eugene, OR 97401" and
    "Savannah, GA 31401" are both ``A , C 9``; "2210 Lakeview Dr, Suite 140" is ``9 A , A 9``."""
    start, end = span
    values = sorted(
        {
            (f.start, f.end)
            for f in (*index.dates, *index.times, *index.emails, *index.urls, *index.phones, *index.numbers)
            if start <= f.start < end
        }
    )
    parts, cut = [], start
    for a, b in values:
        if a >= cut:
            parts += [index.text[cut:a], "\0"]
            cut = min(b, end)
    parts.append(index.text[cut:end])
    out: list[str] = []
    for token in _FORM_TOKEN.findall("".join(parts)):
        kind = (
            "9"
            if token == "\0" or any(c.isdigit() for c in token)
            else "C"
            if len(token) > 1 and token.isupper()
            else "A"
            if token[:1].isupper()
            else "a"
            if token[:1].isalpha()
            else token
        )
        if not out or out[-1] != kind or not kind.isalnum():
            out.append(kind)
    return " ".join(out)


def _lines_under(index: TextIndex, program: Program) -> list[tuple[int, int]] | None:
    """The lines a "heading" or "line" program counts from: the block under its heading, or the
    non-empty lines below its line (``None`` when its anchor is not in the document once)."""
    text = index.text
    if program.how == "heading":
        headings = _headings(text, program.anchor)
        return _block_below(text, _lines(text)[headings[0]][1]) if len(headings) == 1 else None
    if program.anchor == _START:
        return [span for span in _lines(text) if text[span[0] : span[1]].strip()][:_MAX_BELOW]
    lines = [span for span in _lines(text) if _masked_line(index, span) == program.anchor]
    if len(lines) != 1:
        return None
    return [span for span in _lines(text) if span[0] > lines[0][1] and text[span[0] : span[1]].strip()][:_MAX_BELOW]


def _run_of(text: str, span: tuple[int, int]) -> int:
    """How many non-empty lines the run of lines (no blank line between) holding ``span`` has."""
    lines = _lines(text)
    here = next(i for i, line in enumerate(lines) if line == span)
    first = here
    while first > 0 and text[slice(*lines[first - 1])].strip():
        first -= 1
    last = here
    while last + 1 < len(lines) and text[slice(*lines[last + 1])].strip():
        last += 1
    return last - first + 1


def _facts(index: TextIndex, lines: list[tuple[int, int]], at: int) -> tuple[str, str, int]:
    """The form of line ``at`` of ``lines``, the forms of the lines above it, and the size of its run."""
    return (
        _line_form(index, lines[at]),
        " / ".join(_line_form(index, span) for span in lines[:at]),
        _run_of(index.text, lines[at]),
    )


def _shaped(index: TextIndex, program: Program) -> Program:
    """``program`` with what its lines look like in this document (see :func:`_nth_line`)."""
    lines = _lines_under(index, program)
    if not lines or program.below >= len(lines):
        return program
    line, path, block = _facts(index, lines, program.below)
    return replace(program, line=line, path=path, block=block)


def _nth_line(index: TextIndex, lines: list[tuple[int, int]], program: Program) -> tuple[int, int] | None:
    """The line of ``lines`` that holds ``program``'s value.

    Line ``program.below`` when the lines above it look as they did (so nothing was inserted there)
    and the line itself does, or its run of lines is as long as it was (nothing was removed: a
    free-text line may look different in every document). Else the one line that looks like the
    value's line did (an address block with a "c/o" line more than the one learned from); else
    ``None``: which line holds the value is not certain. Programs without these facts (stored
    before they were kept) count by position."""
    at = program.below
    if not program.line:
        return lines[at] if at < len(lines) else None
    if at < len(lines):
        line, path, block = _facts(index, lines, at)
        if path == program.path and (line == program.line or block == program.block):
            return lines[at]
    same = [span for span in lines if _line_form(index, span) == program.line]
    return same[0] if len(same) == 1 else None


def _heading_label(line: str) -> str:
    """The label of a heading line ("Shipping address:", "Guests", "Joining info"), else ``""``. A
    line without a colon whose words are capitalised is a name ("Mateo García"), not a heading."""
    m = _HEADING.fullmatch(line)
    if m is None:
        return ""
    label = m.group("label")
    words = label.split()
    if len(words) > 4 or (":" not in line and sum(w[:1].isupper() for w in words) > 1):
        return ""
    return _norm(label)


def _headings(text: str, label: str) -> list[int]:
    """The indexes (in :func:`_lines`) of the heading lines labelled ``label``."""
    return [i for i, (s, e) in enumerate(_lines(text)) if _heading_label(text[s:e]) == label]


def _block_below(text: str, end: int) -> list[tuple[int, int]]:
    """The non-empty lines right below the heading line that ends at ``end``, up to a blank line."""
    lines = _lines(text)
    at = next((i for i, (_, e) in enumerate(lines) if e == end), None)
    out: list[tuple[int, int]] = []
    for s, e in lines[at + 1 :] if at is not None else []:
        if not text[s:e].strip():
            break
        out.append((s, e))
        if len(out) >= _MAX_BELOW:
            break
    return out


def _heading_above(text: str, at: int) -> tuple[str, int] | None:
    """The heading line above the value's line in the same block, and how many lines below it the value
    stands (0: the first line under it)."""
    lines = _lines(text)
    here = next(i for i, (s, e) in enumerate(lines) if s <= at <= e)
    found: list[tuple[str, int, bool]] = []  # (label, lines below it, written with a colon)
    for j in range(here - 1, max(-1, here - 1 - _MAX_BELOW), -1):
        s, e = lines[j]
        if not text[s:e].strip():
            break
        label = _heading_label(text[s:e])
        if label:
            found.append((label, here - j - 1, text[s:e].rstrip(" \t*_").endswith(":")))
    # "Delivering to:" over an address block, not "Exeter" inside it; without a colon heading in the
    # block, the nearest one ("When", "Guests").
    for label, below, _colon in sorted(found, key=lambda f: not f[2]):
        return (label, below) if len(_headings(text, label)) == 1 else None
    return None


def _phrases_before(text: str, at: int) -> list[str]:
    """Word sequences (one to four words) before ``at`` in its sentence that occur once in the text,
    the closest first: "card payment of" for the amount in "a card payment of $1,625.73 to ...",
    "invited you to" for the title after it."""
    begin = max((m.end() for m in _SENTENCE_END.finditer(text, max(0, at - 120), at)), default=max(0, at - 120))
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text, begin, at)]
    out: list[str] = []
    for last in range(len(tokens) - 1, -1, -1):
        for size in (1, 2, 3, 4):
            first = last - size + 1
            if first < 0:
                break
            span = tokens[first : last + 1]
            spelled = [text[s:e] for s, e in span]
            words = [w.casefold() for w in spelled]
            if not all(_WORD.fullmatch(w) for w in words) or not any(len(w) > 2 for w in words):
                continue
            if any(w[:1].isupper() and i for i, w in enumerate(spelled)) or any(P.calendar_word(w) for w in words):
                continue  # a name, a weekday or a month ("on Monday") changes from one document to the next
            phrase = " ".join(words)
            if phrase not in out and len(list(_anchor_pattern(phrase).finditer(text))) == 1:
                out.append(phrase)
        if len(out) >= 3:
            break
    return out


def _words_around(text: str, start: int, end: int) -> tuple[str, str]:
    """Up to two words right before and right after a value in its sentence ("to", "was made") — how
    prose delimits a value that is text ("a payment of $12.40 to DELTA AIR 0062301 was made")."""
    before: list[str] = []
    after: list[str] = []
    for token in reversed(text[max(0, start - 40) : start].split()[-2:]):  # contiguous words only
        if not re.fullmatch(r"[A-Za-z][\w'’-]*", token):
            break
        before.insert(0, token)
    for token in text[end : end + 40].split()[:2]:
        if not re.fullmatch(r"[A-Za-z][\w'’-]*", token.rstrip(",")):
            break
        after.append(token.rstrip(","))
    if not before or not after or not text[start - 1 : start].isspace() or (text[end : end + 1] or "x") not in " \t,":
        return "", ""  # glued to what is around it: not a value standing between words
    left = " ".join(w.casefold() for w in before[-2:])
    right = " ".join(w.casefold() for w in after[:2])
    if any(w[:1].isupper() for w in (*before[-2:], *after[:2])):
        return "", ""  # names around it change from one document to the next
    return left, right


def _between(text: str, region: tuple[int, int], left: str, right: str) -> tuple[int, int] | None:
    pattern = re.compile(rf"(?<![\w'’-]){_words(left)}\s+(.+?)[\s,]+{_words(right)}(?![\w'’-])", re.IGNORECASE)
    found = list(pattern.finditer(text, region[0], region[1]))
    return (found[0].start(1), found[0].end(1)) if len(found) == 1 else None


def _words(words: str) -> str:
    return r"\W+".join(re.escape(w) for w in words.split())


def _line_above(index: TextIndex, at: int) -> tuple[str, int] | None:
    """The nearest line above the value's line (blank lines aside) whose shape says something and is
    unique, and how many non-empty lines below it the value's line is: the first lines of a posting
    under a fixed instruction, or a line under a fixed banner."""
    text = index.text
    lines = [span for span in _lines(text) if text[span[0] : span[1]].strip()]
    here = next((i for i, (s, e) in enumerate(lines) if s <= at <= e), None)
    if here is None:
        return None
    for j in range(here - 1, max(-1, here - 4), -1):
        shape = _masked_line(index, lines[j])
        if (
            re.search(r"[a-z]{3,}", shape.replace("<>", ""))
            and sum(1 for other in _lines(text) if _masked_line(index, other) == shape) == 1
        ):
            return shape, here - j - 1
    if here < _MAX_BELOW:  # the first lines of the document: a posting's title, company and place
        return _START, here
    return None


def _cells(line: str) -> list[tuple[int, int]]:
    """Cells of an aligned table line: runs of text separated by two or more spaces."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", line)]


def _column_of(text: str, at: int) -> tuple[str, str] | None:
    """The header line right above the value's line (an aligned row of three or more words) and the
    header of the value's column, found by where the cells start."""
    lines = _lines(text)
    here = next((i for i, (s, e) in enumerate(lines) if s <= at <= e), None)
    if here is None or here == 0:
        return None
    hs, he = lines[here - 1]
    header = text[hs:he]
    cells = _cells(header)
    if (
        len(cells) < 3
        or re.search(r"\d", header)
        or sum(1 for ln in lines if _norm(text[ln[0] : ln[1]]) == _norm(header)) != 1
    ):
        return None
    row_start = lines[here][0]
    data = _cells(text[row_start : lines[here][1]])
    cell = next(((s, e) for s, e in data if s <= at - row_start < e), None)
    if cell is None:
        return None
    nearest = min(cells, key=lambda c: abs(c[0] - cell[0]))
    return _norm(header), _norm(header[nearest[0] : nearest[1]])


def _cell_under(text: str, header: str, column: str) -> tuple[int, int] | None:
    lines = _lines(text)
    found = [i for i, (s, e) in enumerate(lines) if _norm(text[s:e]) == header]
    if len(found) != 1 or found[0] + 1 >= len(lines):
        return None
    hs, he = lines[found[0]]
    cells = _cells(text[hs:he])
    target = next(((s, e) for s, e in cells if _norm(text[hs + s : hs + e]) == column), None)
    if target is None:
        return None
    rs, re_ = lines[found[0] + 1]
    data = _cells(text[rs:re_])
    mine = [c for c in data if min(cells, key=lambda h: abs(h[0] - c[0])) == target]
    if len(mine) != 1:
        return None
    return rs + mine[0][0], rs + mine[0][1]


def _anchor_pattern(words: str) -> re.Pattern[str]:
    body = r"\W*".join(re.escape(w) for w in words.split())
    tail = r"(?![\w'’-])" if re.search(r"\w$", words) else ""
    return re.compile(rf"(?<![\w'’-]){body}{tail}[ \t:]*", re.IGNORECASE)


def _trimmed(text: str, region: tuple[int, int]) -> tuple[int, int]:
    start, end = region
    while start < end and text[start] in _STRIP:
        start += 1
    while end > start and text[end - 1] in _STRIP:
        end -= 1
    return start, end


def _spots(index: TextIndex, kind: str, region: tuple[int, int]) -> list[tuple[int, int]]:
    found = {
        P.KIND_DATE: index.dates,
        P.KIND_TIME: index.times,
        P.KIND_EMAIL: index.emails,
        P.KIND_URL: index.urls,
        P.KIND_PHONE: index.phones,
        P.KIND_NUMBER: index.plain_numbers,
    }.get(kind, [])
    spans = []
    for f in found:
        start, end = f.start, f.end
        while end > start and index.text[end - 1].isspace():  # "21:28 " is found with its space
            end -= 1
        if region[0] <= start and end <= region[1]:
            spans.append((start, end))
    return list(dict.fromkeys(spans))


def _segments(text: str, region: tuple[int, int], split: re.Pattern[str] = _SEGMENT_SPLIT) -> list[tuple[int, int]]:
    out = []
    pos = region[0]
    for m in [*split.finditer(text, region[0], region[1]), None]:
        end = m.start() if m is not None else region[1]
        start, stop = _trimmed(text, (pos, end))
        if stop > start:
            out.append((start, stop))
        if m is not None:
            pos = m.end()
    return out


def _other_reading(index: TextIndex, program: Program, value: Any) -> bool:
    """A "kind" program whose place also holds another value that reads as ``value``: which one is
    meant is not certain (never true for the other parts)."""
    if program.part != "kind":
        return False
    region = _region(index, program)
    if region is None:
        return True
    return (
        sum(1 for s, e in _spots(index, program.kind, region) if _apply(program.form, index.text[s:e].strip()) == value)
        > 1
    )
