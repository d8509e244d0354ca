"""Grounding: is a served value the one the request text gives for its key?

For a ``(key, value)`` pair and the request's record text, :meth:`Grounder.check` collects the evidence
— where the value occurs (after normalisation: case, spacing, thousands separators, currency signs,
date and time spellings, yes/no), the label or words around each occurrence ("City: Seville", "reach
me at ...", "order HC-68241"), the value's pattern kind and what the key's name or schema implies —
and returns one of three verdicts:

* **grounded**: the value is in the text and nothing contradicts its key;
* **conflict**: evidence *against* it. The value's kind cannot fill the key (an email under
  ``country_code``, a ``true`` under ``sku``); or it is a kind the key rarely holds (a date under
  ``start_time``) while the text offers an unused value of the right kind; the text labels this key
  with another value of the same kind ("End: 2024-04-22"); every occurrence is labelled with another
  requested key that holds something else; it is a cut-off part of a longer token ("68241" of
  "HC-68241"); it is a near-miss copy ("Lisboa" for "Lisbon"); or it is ``null`` although the text
  labels this key with a value or holds exactly one unused value of its kind;
* **unknown**: anything else (computed, invented, free text). Unknown never fails verification.

When unsure the verdict is *unknown*: a false conflict costs a model call and, when the repair does
not clear it, an answer served without being stored.

The evidence (:class:`Evidence`) is JSON-serialisable (``to_data``): spans, labels, context words,
kinds and the normalisation that matched. It is what an extraction program needs to learn, from one
verified (text, JSON) pair, where each key's value sits, and it is kept in ``Entry.prepared``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _keys as K
from . import _patterns as P
from ._keys import KeyNames, key_words

__all__ = ["Evidence", "Occurrence", "Grounder", "GROUNDED", "CONFLICT", "UNKNOWN"]

GROUNDED, CONFLICT, UNKNOWN = "grounded", "conflict", "unknown"

# A value of one of these kinds can never fill a key of that kind, wherever it came from.
_IMPOSSIBLE: dict[str, frozenset[str]] = {
    K.EMAIL: frozenset({P.KIND_URL, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_PHONE, P.KIND_MONEY,
                        P.KIND_NUMBER, P.KIND_BOOLEAN, P.KIND_NAME, P.KIND_CODE, P.KIND_ID}),
    K.URL: frozenset({P.KIND_EMAIL, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_PHONE, P.KIND_MONEY,
                      P.KIND_NUMBER, P.KIND_BOOLEAN, P.KIND_NAME}),
    K.PHONE: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_MONEY,
                        P.KIND_BOOLEAN, P.KIND_NAME}),
    K.DATE: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_MONEY, P.KIND_BOOLEAN, P.KIND_ID}),
    K.TIME: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_MONEY, P.KIND_BOOLEAN, P.KIND_ID}),
    K.DATETIME: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_MONEY, P.KIND_BOOLEAN, P.KIND_ID}),
    K.MONEY: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME,
                        P.KIND_BOOLEAN}),
    K.NUMBER: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_BOOLEAN}),
    K.ID: frozenset({P.KIND_BOOLEAN, P.KIND_MONEY, P.KIND_TIME, P.KIND_DATETIME}),
    K.CODE: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME,
                       P.KIND_MONEY, P.KIND_BOOLEAN}),
    K.NAME: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_PHONE,
                       P.KIND_MONEY, P.KIND_BOOLEAN}),
    K.PLACE: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_PHONE,
                        P.KIND_MONEY, P.KIND_BOOLEAN}),
    K.BOOLEAN: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_PHONE,
                          P.KIND_MONEY, P.KIND_NAME, P.KIND_ID, P.KIND_CODE}),
}
# A value of one of these kinds is wrong for the key only when the text offers an unused value of the
# key's own kind ("Christmas" may well be a date; "Seville" is not a price when "12.50" goes unused).
_UNLIKELY: dict[str, frozenset[str]] = {
    K.DATE: frozenset({P.KIND_TIME, P.KIND_NAME}),
    K.TIME: frozenset({P.KIND_DATE, P.KIND_NAME}),
    K.DATETIME: frozenset({P.KIND_NAME}),
    K.MONEY: frozenset({P.KIND_NAME}),
    K.NUMBER: frozenset({P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_NAME, P.KIND_PHONE}),
    K.ID: frozenset({P.KIND_NAME}),
    K.CODE: frozenset({P.KIND_NAME}),
    K.NAME: frozenset({P.KIND_NUMBER, P.KIND_ID}),
    K.PLACE: frozenset({P.KIND_NUMBER, P.KIND_ID}),
}
# Key kinds whose value a text spells unmistakably: a null there is doubted when the text has one.
_SPOTTABLE = (K.EMAIL, K.URL, K.PHONE, K.DATE, K.TIME, K.DATETIME)
_DETERMINERS = frozenset({"the", "a", "an", "her", "his", "my", "our", "their", "its", "your", "this", "that"})
_CLAUSE_END = re.compile(r"[.;:\n|()\[\]{}!?]")
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_NEAR_END = re.compile(r"[.;:\n|()\[\]{}!?,<>]")
_IS_LABEL = re.compile(r"(?P<label>(?:[A-Za-z][\w'’-]*\s+){0,2}[A-Za-z][\w'’-]*)\s+(?:is|are|was|were)\s+[\"'(]?\s*$")
_FIELD = re.compile(
    r"(?:^|(?<=[\n;,|{(\[•:])|(?<=\.\s))[ \t]*(?:[-*•+]\s+|\d{1,2}[.)]\s+)?[*_]{0,2}[\"'`]?"
    r"(?P<label>[A-Za-z][\w'’./&() -]{0,38}?[\w)])[\"'`]?[*_]{0,2}[ \t]*(?:[:=\uff1a]|->|=>)(?![/\\\d])[ \t]*",
    re.MULTILINE,
)
_LINE_FIELD = re.compile(
    r"^[ \t]*(?P<label>[A-Za-z][A-Za-z'’]*(?:[ \t]+[A-Za-z][A-Za-z'’]*){0,2})[ \t]+"
    r"(?P<value>[$€£¥]?[ \t]?\d[\d,.]*(?:[ \t]?(?:[A-Z]{3}|%))?)[ \t]*$",
    re.MULTILINE,
)
_VALUE_END = re.compile(r"[;\n|]|\.(?=\s+[A-Z]|\s*$)")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-_/#.][A-Za-z0-9]+)*")
_PROPER = re.compile(r"(?<![\w'’-])[A-Z][a-z][\w'’-]*(?:\s+(?:(?:de|da|del|van|von|der|la|le|of|the|di|du)\s+)?[A-Z][\w'’-]*)*")
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
        data: dict[str, Any] = {"span": [self.start, self.end], "labels": list(self.labels),
                                "before": list(self.before), "after": list(self.after)}
        if self.within:
            data["within"] = list(self.within)
        return data


@dataclass(frozen=True, slots=True)
class Evidence:
    """The grounding verdict for one key's value, with what it rests on."""

    key: str
    status: str  # GROUNDED | CONFLICT | UNKNOWN
    value_kind: str
    key_kind: str | None
    normalisation: str = ""  # how the value matched the text: exact, case, punctuation, number, date, ...
    occurrences: tuple[Occurrence, ...] = ()
    labelled: bool = False  # an occurrence is labelled or worded with this key's name
    reason: str = ""
    #: Weaker: an occurrence sits further inside a field labelled with this key's name.
    held: bool = False
    items: tuple[Evidence, ...] = field(default=())  # members of a list or object value

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key, "status": self.status, "value_kind": self.value_kind, "key_kind": self.key_kind,
            "normalisation": self.normalisation, "occurrences": [o.to_data() for o in self.occurrences],
            "labelled": self.labelled, "held": self.held,
        }
        if self.reason:
            data["reason"] = self.reason
        if self.items:
            data["items"] = [i.to_data() for i in self.items]
        return data


@dataclass(frozen=True, slots=True)
class _Field:
    """A "label: value" pair written in the text."""

    label: str
    start: int  # of the value
    end: int


class Grounder:
    """Grounding against one request text; build once per request, :meth:`check` per key."""

    def __init__(self, text: str, keys: Sequence[str], names: KeyNames, *, derived: bool = False) -> None:
        self.text = text
        self.keys = tuple(keys)
        self.names = names
        self.derived = derived
        self._folded = text.casefold()
        self.fields = _fields(text)
        self._dates = list(P.dates_in(text))
        self._times = list(P.times_in(text))
        self._emails = list(P.emails_in(text))
        self._urls = [u for u in P.urls_in(text) if not any(_overlaps(u, e) for e in self._emails)]
        self._phones = list(P.phones_in(text))
        noise = self._times + self._phones + self._emails + self._urls
        self._numbers = [n for n in P.numbers_in(text) if not any(_overlaps(n, o) for o in noise)]
        self._words: list[str] | None = None

    # -- the verdict -------------------------------------------------------------------------------
    def check(self, key: str, value: Any, schema: Any = None, answer: Mapping[str, Any] | None = None) -> Evidence:
        """The evidence for ``value`` under ``key`` (``answer``: the whole object, for "unused" values)."""
        answer = answer or {key: value}
        kind = self.names.kind(key, schema)
        if isinstance(value, list):
            return self._members(key, value, kind, schema, [(None, v) for v in value])
        if isinstance(value, dict):
            return self._members(key, value, kind, schema, list(value.items()))
        if P.is_placeholder(value):
            return self._null(key, value, kind, answer)
        return self._scalar(key, value, kind, answer, full=True)

    def _members(self, key: str, value: Any, kind: str | None, schema: Any, members: list[tuple[str | None, Any]]) -> Evidence:
        items_schema = schema.get("items") if isinstance(schema, dict) else None
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        items = []
        for sub, member in members:
            if isinstance(member, (list, dict)):
                items.append(self.check(sub or key, member, props.get(sub) if sub else items_schema, {}))
            elif not P.is_placeholder(member):
                sub_kind = self.names.kind(sub, props.get(sub)) if sub else (
                    self.names.kind(key, items_schema) if items_schema is not None else kind)
                items.append(self._scalar(sub or key, member, sub_kind, {}, full=False))
        conflict = next((i for i in items if i.status == CONFLICT), None)
        status = CONFLICT if conflict else GROUNDED if items and all(i.status == GROUNDED for i in items) else UNKNOWN
        reason = "" if conflict is None else conflict.reason.replace(repr(conflict.key), repr(key), 1)
        kind_of = "list" if isinstance(value, list) else "object"
        return Evidence(key, status, kind_of, kind, "members" if items else "", reason=reason, items=tuple(items))

    def _scalar(self, key: str, value: Any, kind: str | None, answer: Mapping[str, Any], *, full: bool) -> Evidence:
        vkind = P.value_kind(value)
        occurrences, norm = self._find(value, vkind)
        labelled = any(self.names_key(o, key) for o in occurrences)
        held = labelled or any(self.names_key(o, key, held=True) for o in occurrences)

        def verdict(status: str, reason: str = "") -> Evidence:
            return Evidence(key, status, vkind, kind, norm, tuple(occurrences), labelled, reason, held=held)

        shown = _show(value)
        own = [f for f in self.fields if self.names.within(f.label, key)] if full else []
        if own and any(f.start <= o.start < f.end for f in own for o in occurrences):
            return verdict(GROUNDED)  # the text labels it with this very key
        if own and full:
            rival = self._own_rival(own, value, vkind)
            if rival is None and occurrences and self._claimed_by(occurrences, key, None, {}) is not None:
                # The answer's value is what the text labels as something else, and the text
                # labels this key with a value of its own ("publisher: Harbor House").
                rival = next((g for g in self._own_values(own) if P.value_kind(g) != P.KIND_TEXT), None)
            if rival is not None:
                return verdict(CONFLICT, f"{key!r} is {shown}, but the text gives {key!r} as {_show(rival)}")
        if kind is not None and vkind in _IMPOSSIBLE.get(kind, ()) and not labelled:
            return verdict(CONFLICT, f"{key!r} is {shown}, which is {_a(vkind)}, not {_a(kind)}"
                           + self._said_as(occurrences, key))
        if full and occurrences and not own:
            claimed = self._claimed_by(occurrences, key, value, answer)
            if claimed is not None:
                return verdict(CONFLICT, f"{key!r} is {shown}, which the text gives as the {claimed}")
        if kind in (K.ID, K.CODE, None) or vkind == P.KIND_ID:
            cut = None if any(self._whole(o, value) for o in occurrences) else self._truncated(value)
            if cut is not None:
                return verdict(CONFLICT, f"{key!r} is {shown}, a cut-off part of {_show(cut)} in the text: copy it whole")
        if kind is not None and vkind in _UNLIKELY.get(kind, ()) and (vkind != P.KIND_NAME or occurrences):
            alternative = self._unused(kind, answer)
            if alternative is not None:
                return verdict(CONFLICT, f"{key!r} is {shown}, which is {_a(vkind)}, not {_a(kind)}; the text has "
                               f"{_show(alternative)}" + self._said_as(occurrences, key))
        if not occurrences and full and vkind in (P.KIND_NUMBER, P.KIND_MONEY) and not self.derived:
            worded = self._worded_number(key, value, answer)
            if worded is not None:
                return verdict(CONFLICT, f"{key!r} is {shown}, which the request does not contain; it gives "
                               f"{_show(worded)} for it")
        if not occurrences:
            near = self._near_miss(value) or self._near_token(value, vkind)
            if near is not None:
                return verdict(CONFLICT, f"{key!r} is {shown}, which the request does not contain; it gives "
                               f"{_show(near)}: copy values exactly")
        return verdict(GROUNDED if occurrences else UNKNOWN)

    def _null(self, key: str, value: Any, kind: str | None, answer: Mapping[str, Any]) -> Evidence:
        vkind = P.KIND_NULL if value is None else P.value_kind(value)
        used = _used(answer, key)
        # The text's label for this key: one within it ("Email" for contact_email), or else the only
        # label that names it at all ("Total charged" for total).
        own = [f for f in self.fields if self.names.within(f.label, key)]
        if not own:
            named = [f for f in self.fields if self.names.same(f.label, key)]
            own = named if len(named) == 1 else []
        for f in own:
            given = self.text[f.start : f.end].strip(" \t\"'`*,")
            if not P.is_placeholder(given) and _norm(given) not in used:
                return Evidence(key, CONFLICT, vkind, kind, reason=f"{key!r} is {_show(value)}, but the text gives "
                                f"{f.label.strip()!r}: {_show(_clip(given))}")
        if kind in _SPOTTABLE:
            candidates = [c for c in self._of_kind(kind) if _norm(self.text[c.start : c.end]) not in used
                          and not self._labelled_otherwise(c, key)]
            spelled = {_norm(self.text[c.start : c.end]) for c in candidates}
            if len(spelled) == 1:
                return Evidence(key, CONFLICT, vkind, kind, reason=f"{key!r} is {_show(value)}, but the text has "
                                f"{_show(self.text[candidates[0].start : candidates[0].end])}")
        return Evidence(key, UNKNOWN, vkind, kind)

    # -- finding the value --------------------------------------------------------------------------
    def _find(self, value: Any, vkind: str) -> tuple[list[Occurrence], str]:
        spans: list[tuple[int, int]] = []
        how = ""
        if isinstance(value, bool):
            spans = _phrase_spans(json_literal(value), self.text)
            how = "literal"
            if not spans:
                spans = [(f.start, f.end) for f in self.fields
                         if P.bool_word(self.text[f.start : f.end].strip(" \t\"'`*,.")) is value]
                how = "boolean"
        elif isinstance(value, (int, float)):
            spans = [(n.start, n.end) for n in self._numbers if abs(n.norm - float(value)) < 1e-9]
            how = "number"
        elif isinstance(value, str):
            spans, how = self._find_string(value.strip(), vkind)
        occurrences = [self._occurrence(s, e) for s, e in dict.fromkeys(spans)]
        return occurrences, how if occurrences else ""

    def _find_string(self, value: str, vkind: str) -> tuple[list[tuple[int, int]], str]:
        spans = _phrase_spans(value, self.text)
        if spans:
            return spans, "exact" if any(self.text[s:e] == value for s, e in spans) else "case"
        finders: list[tuple[str, list[tuple[int, int]]]] = []
        if vkind == P.KIND_EMAIL:
            finders.append(("case", [(f.start, f.end) for f in self._emails if f.norm == value.casefold()]))
        elif vkind == P.KIND_URL:
            url = P.url_norm(value)
            finders.append(("url", [(f.start, f.end) for f in self._urls if f.norm == url]))
        elif vkind in (P.KIND_DATE, P.KIND_DATETIME):
            readings = P.parse_date(value) or [f.norm for f in P.dates_in(value)]
            dates = [(f.start, f.end) for f in self._dates if any(P.same_date(f.norm, r) for r in readings)]
            if vkind == P.KIND_DATETIME:
                minutes = {f.norm for f in P.times_in(value)}
                times = [(f.start, f.end) for f in self._times if f.norm in minutes]
                dates = dates + times if dates and times else []
            finders.append(("date", dates))
        elif vkind == P.KIND_TIME:
            minutes_of = P.parse_time(value)
            finders.append(("time", [(f.start, f.end) for f in self._times if f.norm == minutes_of]))
        elif vkind == P.KIND_PHONE:
            finders.append(("phone", [(f.start, f.end) for f in self._phones if P.same_phone(f.norm, P.digits(value))]))
        number = P.parse_number(value)
        if number is not None:
            finders.append(("number", [(n.start, n.end) for n in self._numbers if abs(n.norm - number) < 1e-9]))
        finders.append(("punctuation", _loose_spans(value, self.text)))
        for how, found in finders:
            if found:
                return found, how
        return [], ""

    def _occurrence(self, start: int, end: int) -> Occurrence:
        holders = [f for f in self.fields if f.start <= start < f.end]
        labels = [f.label for f in holders if not self.text[f.start : start].strip(" \t\"'`*([")]
        within = tuple(f.label for f in holders if f.label not in labels)
        clause_start = max((m.end() for m in _CLAUSE_END.finditer(self.text, max(0, start - 80), start)), default=max(0, start - 80))
        before_text = self.text[clause_start:start]
        is_label = _IS_LABEL.search(before_text)
        near_start = max((m.end() for m in _NEAR_END.finditer(before_text)), default=0)
        if is_label is not None and not labels:
            words = [w for w in is_label.group("label").split() if w.lower() not in _DETERMINERS and not _possessive(w)]
            if words:
                labels.append(" ".join(words))
        labels += self._column_header(start)
        end_match = _NEAR_END.search(self.text, end, end + 60)
        after_text = self.text[end : end_match.start() if end_match else end + 60]
        # Context words stay within the list item: "status active, id 12345" does not word 12345 as a status.
        return Occurrence(start, end, tuple(dict.fromkeys(labels)),
                          tuple(_WORD.findall(before_text[near_start:])[-3:]), tuple(_WORD.findall(after_text)[:2]), within)

    def _column_header(self, start: int) -> list[str]:
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

    # -- evidence helpers -----------------------------------------------------------------------------
    def names_key(self, occurrence: Occurrence, key: str, *, held: bool = False) -> bool:
        """The text names ``key`` at ``occurrence``: its label, or a word next to it ("order
        HC-68241", "34 years"); with ``held``, also the label of a field it sits further inside."""
        labels = (*occurrence.labels, *occurrence.within) if held else occurrence.labels
        if any(self.names.same(label, key) for label in labels):
            return True
        wanted = {w for w in self.names.canonical(key) if len(w) > 2}
        around = {w for text in (*occurrence.before, *occurrence.after) for w in self.names.canonical(text)}
        return bool(wanted & around)

    def _whole(self, occurrence: Occurrence, value: Any) -> bool:
        left = self.text[occurrence.start - 2 : occurrence.start] if occurrence.start >= 2 else " " + self.text[:occurrence.start]
        right = self.text[occurrence.end : occurrence.end + 2]
        return not (re.fullmatch(r".?\w[-_/#]", left.rjust(2)) or re.match(r"[-_/#]\w", right))

    def _truncated(self, value: Any) -> str | None:
        """The longer ID-like token ``value`` is a cut-off part of ("68241" of "HC-68241")."""
        text = str(value).strip()
        if isinstance(value, bool) or not text or not any(ch.isdigit() for ch in text) or " " in text:
            return None
        if any(t.group(0).casefold() == text.casefold() for t in _TOKEN.finditer(self.text)):
            return None
        for token in _TOKEN.finditer(self.text):
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

    def _own_values(self, own: Sequence[_Field]) -> list[str]:
        values = [self.text[f.start : f.end].strip(" \t\"'`*,.") for f in own]
        return [v for v in values if v and not P.is_placeholder(v)]

    def labelled_value(self, key: str) -> str | None:
        """The one value the text labels with ``key`` ("pages: 641"), or ``None`` (none, or several)."""
        values = {v.casefold(): v for v in self._own_values([f for f in self.fields if self.names.within(f.label, key)])}
        return next(iter(values.values())) if len(values) == 1 else None

    def _own_rival(self, own: Sequence[_Field], value: Any, vkind: str) -> str | None:
        """A value of ``value``'s kind that the text labels with this key, when it is not ``value``."""
        if isinstance(value, bool):
            said = [P.bool_word(v) for v in self._own_values(own)]
            return next((json_literal(b) for b in said if b is not None and b is not value), None)
        if vkind not in (P.KIND_EMAIL, P.KIND_URL, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_PHONE,
                         P.KIND_MONEY, P.KIND_NUMBER, P.KIND_ID, P.KIND_CODE):
            return None
        if self.derived and vkind in (P.KIND_MONEY, P.KIND_NUMBER):
            return None  # "total including tax": the answer may compute what the text states
        for f in own:
            given = self.text[f.start : f.end].strip(" \t\"'`*,.")
            if given and P.value_kind(given) == vkind and not _equivalent(given, value):
                return given
        return None

    def _claimed_by(self, occurrences: Sequence[Occurrence], key: str, value: Any, answer: Mapping[str, Any]) -> str | None:
        """The other requested key that labels every occurrence, when it holds something else."""
        claimant = None
        for occ in occurrences:
            if any(self.names.same(label, key) for label in occ.labels):
                return None
            others = [k for k in self.keys if k != key and any(self.names.within(label, k) for label in occ.labels)]
            if not others:
                return None
            claimant = claimant or others[0]
        if claimant is None or (value is not None and _norm(answer.get(claimant)) == _norm(value)):
            return None
        return " ".join(key_words(claimant))

    def _labelled_otherwise(self, found: P.Found, key: str) -> bool:
        occ = self._occurrence(found.start, found.end)
        return bool(occ.labels) and not any(self.names.same(label, key) for label in occ.labels)

    def _of_kind(self, kind: str) -> list[P.Found]:
        return {
            K.EMAIL: self._emails, K.URL: self._urls, K.PHONE: self._phones, K.DATE: self._dates,
            K.TIME: self._times, K.DATETIME: self._dates, K.MONEY: self._numbers, K.NUMBER: self._numbers,
        }.get(kind, [])

    def _unused(self, kind: str, answer: Mapping[str, Any]) -> str | None:
        """A value of ``kind`` in the text that no key of ``answer`` holds."""
        used = _used(answer, None)
        if kind in (K.ID, K.CODE):
            for token in _TOKEN.finditer(self.text):
                spelled = token.group(0)
                if P.value_kind(spelled) == (P.KIND_ID if kind == K.ID else P.KIND_CODE) and _norm(spelled) not in used:
                    return spelled
            return None
        if kind in (K.NAME, K.PLACE):
            return None  # proper names are too loose to offer as the alternative
        for found in self._of_kind(kind):
            spelled = self.text[found.start : found.end]
            numbers = {_norm(v) for v in used}
            if _norm(spelled) not in used and _norm(found.norm) not in numbers:
                return spelled
        return None

    def rival(self, value: Any, answer: Mapping[str, Any], within: Sequence[tuple[int, int]] | None = None) -> str | None:
        """Another value in the text of ``value``'s kind that no key of ``answer`` holds.

        For a scalar copied from the text this asks: could a differently worded request have meant
        that one instead? Numbers inside dates, times and phones belong to them; proper names are
        capitalised runs inside sentences (not labels); free text competes only with the other items
        of the list it was picked from ("Options: positive, negative").
        """
        vkind = P.value_kind(value)
        used = _used(answer, None)

        def inside(start: int) -> bool:
            return within is None or any(s <= start < e for s, e in within)

        spelled: list[str]
        if vkind in (P.KIND_NUMBER, P.KIND_MONEY):
            # Only a number of the same shape competes: a card's "4821" is not rivalled by a price 5.25.
            whole = self._dates + self._times
            shape = _number_shape(value)
            spelled = [self.text[n.start : n.end] for n in self._numbers
                       if inside(n.start) and not any(_overlaps(n, d) for d in whole)
                       and _number_shape(self.text[n.start : n.end]) == shape]
        elif vkind in (P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_DATE, P.KIND_DATETIME, P.KIND_TIME):
            found = {P.KIND_EMAIL: self._emails, P.KIND_URL: self._urls, P.KIND_PHONE: self._phones,
                     P.KIND_TIME: self._times}.get(vkind, self._dates)
            taken = {occ.start for v in _leaves_of(answer) for occ in self._find(v, P.value_kind(v))[0]}
            spelled = [self.text[f.start : f.end] for f in found if inside(f.start) and f.start not in taken]
        elif vkind in (P.KIND_ID, P.KIND_CODE):
            spelled = [t.group(0) for t in _TOKEN.finditer(self.text)
                       if inside(t.start()) and P.value_kind(t.group(0)) == vkind]
        elif vkind == P.KIND_NAME:
            # Capitalised words are everywhere (places, companies, products); a name competes with
            # another only in a parallel position: both labelled ("From: Alice", "To: Bob") or both
            # items of one list.
            listed = self._listed_with(value)
            if listed:
                spelled = listed
            elif any(o.labels for o in self._find(value, vkind)[0]):
                spelled = [self.text[f.start : f.end].strip() for f in self.fields if inside(f.start)
                           and P.value_kind(self.text[f.start : f.end].strip(" \t\"'`*,.")) == P.KIND_NAME]
            else:
                spelled = []
        else:
            spelled = self._listed_with(value)
        for other in spelled:
            norm = _norm(other)
            if norm and norm not in used and not any(norm in u or u in norm for u in used if len(u) > 2):
                return other
        return None

    def _listed_with(self, value: Any) -> list[str]:
        """The other items of a field's list that holds ``value`` ("positive, negative")."""
        if not isinstance(value, str):
            return []
        for f in self.fields:
            items = [i.strip(" \t\"'`.") for i in re.split(r",|/|\bor\b|\band\b", self.text[f.start : f.end])]
            if len(items) > 1 and any(i.casefold() == value.strip().casefold() for i in items):
                return [i for i in items if i and i.casefold() != value.strip().casefold()]
        return []

    def _said_as(self, occurrences: Sequence[Occurrence], key: str) -> str:
        labels = [label for o in occurrences for label in o.labels if not self.names.same(label, key)]
        return f" (the text gives it as {labels[0]!r})" if labels else ""

    def _worded_number(self, key: str, value: Any, answer: Mapping[str, Any]) -> str | None:
        """A number the text words with this key ("ordered 5 items", "Total 10.63 USD") when the
        answer's number is nowhere in the text: the answer is a miscopy, not a computation, since
        the text states the value."""
        used = _used(answer, key)
        whole = self._dates + self._times
        for n in self._numbers:
            spelled = self.text[n.start : n.end]
            if any(_overlaps(n, d) for d in whole) or _norm(n.norm) in used or _norm(spelled) in used:
                continue
            if self.names_key(self._occurrence(n.start, n.end), key):
                return spelled
        return None

    def _near_token(self, value: Any, vkind: str) -> str | None:
        """An email, URL or ID of the text that ``value`` is a one- or two-character miscopy of."""
        if not isinstance(value, str) or vkind not in (P.KIND_EMAIL, P.KIND_URL, P.KIND_ID) or len(value) < 6:
            return None
        found = {P.KIND_EMAIL: self._emails, P.KIND_URL: self._urls}.get(vkind)
        spelled = [self.text[f.start : f.end] for f in found] if found is not None else [
            t.group(0) for t in _TOKEN.finditer(self.text) if P.value_kind(t.group(0)) == P.KIND_ID]
        for other in spelled:
            if len(other) == len(value) or abs(len(other) - len(value)) <= 2:
                distance = sum(1 for _ in difflib.ndiff(other.casefold(), value.casefold()) if _[0] != " ")
                if 0 < distance <= 4 and other.casefold() != value.casefold():
                    return other
        return None

    def _near_miss(self, value: Any) -> str | None:
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
        if self._words is None:
            self._words = [str(w) for w in dict.fromkeys(re.findall(r"\w+(?:[-'.]\w+)*", self.text))]
        # Every word but one is in the text as written, and that one is a near-miss of a text word:
        # "Grace Akafor" for "Grace Okafor". A made-up phrase has no such near twin.
        missing = [w.strip(",.") for w in words if not _phrase_spans(w.strip(",."), self.text)]
        if len(missing) != 1:
            return None
        word = missing[0]
        if len(word) < 4 or not any(c.isalpha() for c in word) or word.casefold() in self._folded:
            return None
        for candidate in self._words:
            if abs(len(candidate) - len(word)) > 1:
                continue
            ratio = difflib.SequenceMatcher(None, candidate.casefold(), word.casefold()).ratio()
            if len(words) == 1:
                if candidate[:2].casefold() == word[:2].casefold() and ratio >= 0.8:
                    return candidate
            elif ratio >= 0.75:
                # The rest of the phrase pins it down: the corrected phrase must stand in the text.
                fixed = value.replace(word, candidate)
                if _phrase_spans(fixed, self.text):
                    return fixed
        return None


# -- text helpers ----------------------------------------------------------------------------------------


def _fields(text: str) -> list[_Field]:
    """Every "label: value" the text writes (one to four words of label, the value up to a separator),
    and every line that is a label and one number ("Tax 0.88", "Total 10.63 USD" on a receipt)."""
    matches = [m for m in _FIELD.finditer(text) if len(m.group("label").split()) <= _MAX_LABEL_WORDS]
    out = [_Field(m.group("label").strip(), m.start("value"), m.end("value")) for m in _LINE_FIELD.finditer(text)]
    for i, m in enumerate(matches):
        limit = matches[i + 1].start("label") if i + 1 < len(matches) else len(text)
        end_match = _VALUE_END.search(text, m.end(), limit)
        end = end_match.start() if end_match else limit
        while end > m.end() and text[end - 1] in " \t,;\"'`*":
            end -= 1
        if end > m.end():
            out.append(_Field(m.group("label").strip(), m.end(), end))
    return sorted(out, key=lambda f: f.start)


def _phrase_spans(value: str, text: str) -> list[tuple[int, int]]:
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


def _overlaps(a: P.Found, b: P.Found) -> bool:
    return a.start < b.end and b.start < a.end


def _number_shape(value: Any) -> tuple[bool, int]:
    """(has decimals, digits before the point) of a number as written: 34 ~ 28, 1815 ~ 1852, not 4821 ~ 5.25."""
    text = str(value).strip().lstrip("$€£¥+-").replace(",", "")
    whole, _, fraction = text.partition(".")
    return bool(fraction.strip("0")), len(P.digits(whole))


def _leaves_of(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves_of(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves_of(v)]
    return [] if P.is_placeholder(value) else [value]


def _sentence_start(text: str, at: int) -> bool:
    before = text[:at].rstrip(" \t\"'(*")
    return not before or before[-1] in ".!?\n:;|-•"


def _possessive(word: str) -> bool:
    return word.endswith(("'s", "’s", "s'"))


def _norm(value: Any) -> str:
    """A loose comparison form: numbers by value, strings casefolded and space-collapsed."""
    number = P.parse_number(value) if not isinstance(value, str) or re.search(r"\d", value) else None
    if number is not None:
        return repr(number)
    return " ".join(str(value).casefold().split())


def _used(answer: Mapping[str, Any], but: str | None) -> set[str]:
    out: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif not P.is_placeholder(value):
            out.add(_norm(value))
            if isinstance(value, str):
                out.update(_norm(f.norm) for f in P.numbers_in(value))

    for k, v in answer.items():
        if k != but:
            walk(v)
    return out


def _equivalent(given: str, value: Any) -> bool:
    if _norm(given) == _norm(value):
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


def _show(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _a(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + {"name": "proper name", "id": "ID", "url": "URL"}.get(kind, kind)


def field_labels(text: str) -> Iterable[str]:
    """The labels of every "label: value" in ``text`` (for tests and extraction programs)."""
    return [f.label for f in _fields(text)]
