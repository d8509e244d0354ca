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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _keys as K
from . import _patterns as P
from ._keys import KeyNames, key_words, says_kind
from ._text import (
    TOKEN,
    Field,
    Occurrence,
    TextIndex,
    equivalent,
    json_literal,
    leaves,
    norm,
    number_shape,
    used_values,
)

__all__ = ["Evidence", "Occurrence", "Grounder", "GROUNDED", "CONFLICT", "UNKNOWN"]

GROUNDED, CONFLICT, UNKNOWN = "grounded", "conflict", "unknown"

_CLAUSE_OR_COMMA = re.compile(r"[;:\n|()\[\]{}!?<>]|\.(?!\d)|,(?!\d{3}(?!\d))")
#: Words of a key's name that do not tell one number from another ("order_number", "amount_usd").
_GENERIC_KEY_WORDS = frozenset(
    "number num no nr id value amount count total_ the of in per pct percent percentage usd eur gbp chf jpy "
    "kg g lb oz cm mm km m ml l h hr min sec s unit units qty".split()
)
#: Words of a boolean key's name that say nothing of its meaning (``is_paid``, ``has_parking``).
_BOOL_PREFIXES = frozenset({"is", "has", "have", "was", "are", "can", "does", "did", "should", "will"})
#: Days and times said relative to another: a date may then be computed from the text, not copied.
_RELATIVE = re.compile(
    r"\b(?:today|tomorrow|yesterday|tonight|next|last|ago|later|within|after|before|"
    r"in\s+\d+\s+(?:days?|weeks?|months?|hours?|minutes?))\b",
    re.IGNORECASE,
)
#: Words of a key's name that say what kind of value it holds, or nothing about which one.
_KIND_WORDS = frozenset(
    "email e mail address phone telephone tel mobile cell number no url website web link site "
    "date day time datetime when contact main primary your at on of".split()
)
#: Words of a boolean key's name that say whether the thing is so, not what it is.
_STATE_WORDS = frozenset(
    {
        "required",
        "needed",
        "necessary",
        "included",
        "enabled",
        "available",
        "allowed",
        "provided",
        "requested",
        "accepted",
        "active",
        "applicable",
    }
)
#: A negation right after them: "Breakfast: not included", "signature is not required".
_NEGATION_AFTER = re.compile(r"\W*(?:\w+\s+)?(?:not|no|n't|never|excluded|unavailable|off|disabled|declined)\b")
#: A negation just before the words of a boolean key: the text says it is false.
_NEGATION_BEFORE = re.compile(
    r"(?:\bnot|\bno|\bnothing|\bnever|n't|\bout\s+of|\bwithout|\bnor|\bisn't|\baren't|\bwasn't"
    # a verb that undoes the thing: "unsubscribed from the newsletter", "declined the insurance"
    r"|\bunsubscribed\s+from|\bopted\s+out\s+of|\bdeclined|\bcancell?ed|\bdisabled|\bturned\s+off"
    r"|\bswitched\s+off|\bwaived|\bremoved)\s+(?:\w+\s+){0,1}$"
)

# A value of one of these kinds can never fill a key of that kind, wherever it came from.
_IMPOSSIBLE: dict[str, frozenset[str]] = {
    K.EMAIL: frozenset(
        {
            P.KIND_URL,
            P.KIND_DATE,
            P.KIND_TIME,
            P.KIND_DATETIME,
            P.KIND_PHONE,
            P.KIND_MONEY,
            P.KIND_NUMBER,
            P.KIND_BOOLEAN,
            P.KIND_NAME,
            P.KIND_CODE,
            P.KIND_ID,
        }
    ),
    K.URL: frozenset(
        {
            P.KIND_EMAIL,
            P.KIND_DATE,
            P.KIND_TIME,
            P.KIND_DATETIME,
            P.KIND_PHONE,
            P.KIND_MONEY,
            P.KIND_NUMBER,
            P.KIND_BOOLEAN,
            P.KIND_NAME,
        }
    ),
    K.PHONE: frozenset(
        {P.KIND_EMAIL, P.KIND_URL, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_MONEY, P.KIND_BOOLEAN, P.KIND_NAME}
    ),
    K.DATE: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_MONEY, P.KIND_BOOLEAN, P.KIND_ID}),
    K.TIME: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_MONEY, P.KIND_BOOLEAN, P.KIND_ID}),
    K.DATETIME: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_MONEY, P.KIND_BOOLEAN, P.KIND_ID}),
    K.MONEY: frozenset(
        {P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_BOOLEAN}
    ),
    K.NUMBER: frozenset({P.KIND_EMAIL, P.KIND_URL, P.KIND_BOOLEAN}),
    K.ID: frozenset({P.KIND_BOOLEAN, P.KIND_MONEY, P.KIND_TIME, P.KIND_DATETIME}),
    K.CODE: frozenset(
        {
            P.KIND_EMAIL,
            P.KIND_URL,
            P.KIND_PHONE,
            P.KIND_DATE,
            P.KIND_TIME,
            P.KIND_DATETIME,
            P.KIND_MONEY,
            P.KIND_BOOLEAN,
        }
    ),
    K.NAME: frozenset(
        {
            P.KIND_EMAIL,
            P.KIND_URL,
            P.KIND_DATE,
            P.KIND_TIME,
            P.KIND_DATETIME,
            P.KIND_PHONE,
            P.KIND_MONEY,
            P.KIND_BOOLEAN,
        }
    ),
    K.PLACE: frozenset(
        {
            P.KIND_EMAIL,
            P.KIND_URL,
            P.KIND_DATE,
            P.KIND_TIME,
            P.KIND_DATETIME,
            P.KIND_PHONE,
            P.KIND_MONEY,
            P.KIND_BOOLEAN,
        }
    ),
    K.BOOLEAN: frozenset(
        {
            P.KIND_EMAIL,
            P.KIND_URL,
            P.KIND_DATE,
            P.KIND_TIME,
            P.KIND_DATETIME,
            P.KIND_PHONE,
            P.KIND_MONEY,
            P.KIND_NAME,
            P.KIND_ID,
            P.KIND_CODE,
        }
    ),
}
# A value of one of these kinds is wrong for the key only when the text offers an unused value of the
# key's own kind ("Christmas" may well be a date; "Seville" is not a price when "12.50" goes unused).
_UNLIKELY: dict[str, frozenset[str]] = {
    # a store number, a title or a bare number where the text has a date: "date": "1133"
    K.DATE: frozenset({P.KIND_TIME, P.KIND_NAME, P.KIND_NUMBER, P.KIND_ID, P.KIND_CODE}),
    K.TIME: frozenset({P.KIND_DATE, P.KIND_NAME, P.KIND_NUMBER, P.KIND_ID, P.KIND_CODE}),
    K.DATETIME: frozenset({P.KIND_NAME, P.KIND_NUMBER, P.KIND_ID, P.KIND_CODE}),
    # a room, a sentence where the text has an address of the key's kind
    K.EMAIL: frozenset({P.KIND_TEXT}),
    K.URL: frozenset({P.KIND_TEXT}),
    K.PHONE: frozenset({P.KIND_TEXT}),
    K.MONEY: frozenset({P.KIND_NAME}),
    K.NUMBER: frozenset({P.KIND_DATE, P.KIND_TIME, P.KIND_DATETIME, P.KIND_NAME, P.KIND_PHONE}),
    K.ID: frozenset({P.KIND_NAME}),
    K.CODE: frozenset({P.KIND_NAME}),
    K.NAME: frozenset({P.KIND_NUMBER, P.KIND_ID}),
    K.PLACE: frozenset({P.KIND_NUMBER, P.KIND_ID}),
}
# Key kinds whose value a text spells unmistakably: a null there is doubted when the text has one.
_SPOTTABLE = (K.EMAIL, K.URL, K.PHONE, K.DATE, K.TIME, K.DATETIME)


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
    #: For a miscopy of the text (a near miss, a cut-off ID): the text's own spelling.
    spelled: str | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "status": self.status,
            "value_kind": self.value_kind,
            "key_kind": self.key_kind,
            "normalisation": self.normalisation,
            "occurrences": [o.to_data() for o in self.occurrences],
            "labelled": self.labelled,
            "held": self.held,
        }
        if self.reason:
            data["reason"] = self.reason
        if self.items:
            data["items"] = [i.to_data() for i in self.items]
        return data


class Grounder:
    """Grounding against one request text; build once per request, :meth:`check` per key."""

    def __init__(
        self, text: str, keys: Sequence[str], names: KeyNames, *, derived: bool = False, index: TextIndex | None = None
    ) -> None:
        self.index = index if index is not None and index.text == text else TextIndex(text)
        self.text = text
        self.fields = self.index.fields
        self.keys = tuple(keys)
        self.names = names
        self.derived = derived

    # -- the verdict -------------------------------------------------------------------------------
    def check(self, key: str, value: Any, schema: Any = None, answer: Mapping[str, Any] | None = None) -> Evidence:
        """The evidence for ``value`` under ``key`` (``answer``: the whole object, for "unused" values)."""
        answer = answer or {key: value}
        kind = self.names.kind(key, schema)
        if isinstance(value, list):
            return self._members(key, value, kind, schema, [(None, v) for v in value], answer)
        if isinstance(value, dict):
            return self._members(key, value, kind, schema, list(value.items()), answer)
        if P.is_placeholder(value):
            return self._null(key, value, kind, answer)
        return self._scalar(key, value, kind, answer, full=True)

    def _members(
        self,
        key: str,
        value: Any,
        kind: str | None,
        schema: Any,
        members: list[tuple[str | None, Any]],
        answer: Mapping[str, Any],
    ) -> Evidence:
        items_schema = schema.get("items") if isinstance(schema, dict) else None
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        items = []
        for sub, member in members:
            if isinstance(member, (list, dict)):
                items.append(self.check(sub or key, member, props.get(sub) if sub else items_schema, answer))
            elif not P.is_placeholder(member):
                sub_kind = (
                    self.names.kind(sub, props.get(sub))
                    if sub
                    else (self.names.kind(key, items_schema) if items_schema is not None else kind)
                )
                items.append(self._scalar(sub or key, member, sub_kind, answer, full=False))
        conflict = next((i for i in items if i.status == CONFLICT), None)
        status = CONFLICT if conflict else GROUNDED if items and all(i.status == GROUNDED for i in items) else UNKNOWN
        reason = "" if conflict is None else conflict.reason.replace(repr(conflict.key), repr(key), 1)
        kind_of = "list" if isinstance(value, list) else "object"
        return Evidence(key, status, kind_of, kind, "members" if items else "", reason=reason, items=tuple(items))

    def _scalar(self, key: str, value: Any, kind: str | None, answer: Mapping[str, Any], *, full: bool) -> Evidence:
        vkind = P.value_kind(value)
        occurrences, norm = self.index.find(value, vkind)
        labelled = any(self.names_key(o, key) for o in occurrences)
        held = labelled or any(self.names_key(o, key, held=True) for o in occurrences)

        def verdict(status: str, reason: str = "", spelled: str | None = None) -> Evidence:
            return Evidence(
                key, status, vkind, kind, norm, tuple(occurrences), labelled, reason, held=held, spelled=spelled
            )

        shown = _show(value)
        own = self._own(key, kind) if full else []
        if own and any(
            f.start <= o.start < f.end and _leads_or_none(self.text[f.start : f.end], kind, value)
            for f in own
            for o in occurrences
        ):
            return verdict(GROUNDED)  # the text labels it with this very key
        if own and full:
            rival = self._own_rival(own, value, vkind, kind)
            if (
                rival is None
                and occurrences
                and all(o.labels and not any(self.names.same(label, key) for label in o.labels) for o in occurrences)
            ):
                # The answer's value is what the text labels as something else ("isbn: 978-..."), and
                # the text labels this key with a value of its own ("publisher: Harbor House").
                rival = next((g for g in self._own_values(own) if P.value_kind(g) != P.KIND_TEXT), None)
            if rival is None and not isinstance(value, bool):
                rival = self._named_field_rival(key, kind, value, occurrences)
            if rival is not None:
                return verdict(CONFLICT, f"{key!r} is {shown}, but the text gives {key!r} as {_show(rival)}")
        if kind is not None and vkind in _IMPOSSIBLE.get(kind, ()) and not labelled:
            return verdict(
                CONFLICT, f"{key!r} is {shown}, which is {_a(vkind)}, not {_a(kind)}" + self._said_as(occurrences, key)
            )
        if full and occurrences and not own:
            claimed = self._claimed_by(occurrences, key, value, answer, vkind)
            if claimed is not None:
                return verdict(CONFLICT, f"{key!r} is {shown}, which the text gives as the {claimed}")
        if kind in (K.ID, K.CODE, None) or vkind == P.KIND_ID:
            cut = None if any(self.index.whole(o, value) for o in occurrences) else self.index.truncated(value)
            if cut is not None:
                return verdict(
                    CONFLICT,
                    f"{key!r} is {shown}, a cut-off part of {_show(cut)} in the text: copy it whole",
                    spelled=cut,
                )
        wordy = vkind == P.KIND_TEXT and kind in (K.DATE, K.TIME, K.DATETIME) and not any(c.isdigit() for c in shown)
        if kind is not None and (vkind in _UNLIKELY.get(kind, ()) or wordy) and (vkind != P.KIND_NAME or occurrences):
            alternative = self._unused(kind, answer)
            if alternative is not None:
                return verdict(
                    CONFLICT,
                    f"{key!r} is {shown}, which is {_a(vkind)}, not {_a(kind)}; the text has "
                    f"{_show(alternative)}" + self._said_as(occurrences, key),
                )
        if not occurrences and full and vkind in (P.KIND_NUMBER, P.KIND_MONEY) and not self.derived:
            worded = self._worded_number(key, value, answer)
            if worded is not None:
                return verdict(
                    CONFLICT, f"{key!r} is {shown}, which the request does not contain; it gives {_show(worded)} for it"
                )
        if (
            not occurrences
            and full
            and kind in (K.DATE, K.TIME)
            and vkind == kind
            and not self.derived
            and _RELATIVE.search(self.text) is None
            and self.index.of_kind(kind)
        ):
            # A day or a time the text holds nowhere, where the text has its own and asks nothing
            # computed: "2025-04-15" for the due date the bill writes as 04/14/2025.
            return verdict(
                CONFLICT,
                f"{key!r} is {shown}, which the request does not contain in any "
                f"spelling; copy {_a(kind)} the text gives",
            )
        if not occurrences:
            near = self.index.near_miss(value) or self.index.near_token(value, vkind)
            if near is not None:
                return verdict(
                    CONFLICT,
                    f"{key!r} is {shown}, which the request does not contain; it gives "
                    f"{_show(near)}: copy values exactly",
                    spelled=near,
                )
        numeric = vkind in (P.KIND_NUMBER, P.KIND_MONEY) or (
            isinstance(value, str) and re.fullmatch(r"\d[\d,]*(?:\.\d+)?", value.strip()) is not None
        )
        # Words around a number ("4821 to account") are weaker than the number that follows the
        # key's words ("to account ending 9930"); a field label ("To account: 4821") is stronger.
        if full and numeric and not any(o.labels for o in occurrences) and not self.derived:
            anchored = self._anchored_numbers(key)
            if anchored and not any(abs(n - float(_number_of(value))) < 1e-9 for n in anchored):
                given = ", ".join(_show(int(n) if n == int(n) else n) for n in sorted(set(anchored)))
                return verdict(
                    CONFLICT,
                    f"{key!r} is {shown}, but the text writes {' '.join(self._anchor_words(key))!r} next to {given}",
                )
        # a yes/no under a key named for a thing ("newsletter"): the answer itself says it is boolean
        if isinstance(value, bool) and kind in (K.BOOLEAN, None) and not occurrences:
            said = self.phrased(key)
            if said is value:
                return Evidence(key, GROUNDED, vkind, kind, "phrase", held=True)
            # Only a negation is read as a contradiction ("Currently out of stock." and in_stock: true):
            # words without one may still be undone by a verb the rule does not know ("hasn't turned
            # on two-factor authentication"), and a repair told the wrong thing would make a right answer wrong.
            if said is False:
                return verdict(CONFLICT, f"{key!r} is true, but the text says it in words as false")
        return verdict(GROUNDED if occurrences else UNKNOWN)

    def _anchor_words(self, key: str) -> tuple[str, ...]:
        return tuple(w for w in key_words(key) if w not in _GENERIC_KEY_WORDS and len(w) > 1)

    def _anchored_numbers(self, key: str) -> list[float]:
        """The numbers the text writes after the key's words, up to the next comma or clause end
        ("error rate reached 7.5%" for ``error_rate_percent``, "to account ending 9930" for
        ``to_account``, "SALES TAX 8.25%  9.82" for ``tax``), or, when nothing follows, the number
        right before them ("the 2% threshold"): in prose, where a value has no label, that is how the
        text says which number is which. Empty when the key's words are next to no number."""
        words = self._anchor_words(key)
        if not words:
            return []
        phrase = re.compile(
            r"(?<![\w-])" + r"(?:\W+\w+){0,1}?\W+".join(re.escape(w) + r"\w{0,3}" for w in words) + r"(?![\w-])",
            re.IGNORECASE,
        )
        numbers = self.index.plain_numbers
        out: list[float] = []
        for m in phrase.finditer(self.text):
            stop = _CLAUSE_OR_COMMA.search(self.text, m.end(), m.end() + 80)
            end = stop.start() if stop else m.end() + 80
            after = [float(n.norm) for n in numbers if m.end() <= n.start < end]
            if after:
                out += after
                continue
            begin = max(
                (x.end() for x in _CLAUSE_OR_COMMA.finditer(self.text, max(0, m.start() - 40), m.start())),
                default=max(0, m.start() - 40),
            )
            before = [n for n in numbers if begin <= n.start and n.end <= m.start()]
            if before:  # the last number before them, in each of its readings (2% is 2 and 0.02)
                out += [float(n.norm) for n in before if (n.start, n.end) == (before[-1].start, before[-1].end)]
        return out

    def phrased(self, key: str) -> bool | None:
        """The yes/no the text says for a boolean key in words — the family's rule for booleans from
        phrases: the key's words ("in stock" for ``in_stock``, "paid" for ``is_paid``) occur, and a
        negation right before them ("not", "no", "never", "n't", "out of", "without", "un-") makes it
        ``False``, else ``True``. ``None`` when the words are absent or said both ways."""
        # A field labelled with the key ("Paperless billing: Off – paper bills by mail") says it in its
        # value, or says something the rule cannot read: the words of its label are not a phrase.
        labelled = [f for f in self.fields if self.names.same(f.label, key) or self.names.within(f.label, key)]
        if labelled:
            said_in = {P.yes_no(self.text[f.start : f.end]) for f in labelled}
            return said_in.pop() if len(said_in) == 1 else None
        words = [w for w in key_words(key) if w not in _BOOL_PREFIXES]
        # "signature_required" is said as "No signature is needed": the thing, and whether it is so.
        things = [w for w in words if w not in _STATE_WORDS and w not in ("in", "on")]
        if not things:
            return None
        core = r"[\s-]+".join(re.escape(w) + r"\w{0,3}" for w in things)
        said: set[bool] = set()
        for m in re.finditer(rf"(?<![\w-])(un|non-?)?{core}(?!\w)", self.text, re.IGNORECASE):
            before = self.text[max(0, m.start() - 24) : m.start()].casefold()
            after = self.text[m.end() : m.end() + 20].casefold()
            negated = (
                bool(m.group(1))
                or _NEGATION_BEFORE.search(before) is not None
                or _NEGATION_AFTER.match(after) is not None
            )
            said.add(not negated)
        return said.pop() if len(said) == 1 else None

    def _null(self, key: str, value: Any, kind: str | None, answer: Mapping[str, Any]) -> Evidence:
        vkind = P.KIND_NULL if value is None else P.value_kind(value)
        used = used_values(answer, key)
        # The text's label for this key: one within it ("Email" for contact_email), or else the only
        # label that names it at all ("Total charged" for total).
        own = self._own(key, kind)
        if not own:
            named = [f for f in self.fields if self.names.same(f.label, key) and self._could_fill(f, kind)]
            own = named if len(named) == 1 else []
        for f in own:
            given = self.text[f.start : f.end].strip(" \t\"'`*,")
            # "Salary: Competitive", "Your copay: pending": words where the key holds a number or a
            # date say there is none; null may well be the answer
            if (
                not P.is_placeholder(given)
                and norm(given) not in used
                and self._holds_kind(given, kind)
                and (
                    kind is not None
                    or len(given.split()) <= 4  # a remark ("pending – insurance is still ...") may mean none
                )
            ):
                return Evidence(
                    key,
                    CONFLICT,
                    vkind,
                    kind,
                    reason=f"{key!r} is {_show(value)}, but the text gives {f.label.strip()!r}: {_show(_clip(given))}",
                )
        if kind in _SPOTTABLE:
            # The only unused email is this key's only when nothing in the key's name tells them
            # apart: a handler_email is not the claims department's mailbox, whatever is near it.
            if any(w not in _KIND_WORDS for w in key_words(key)):
                return Evidence(key, UNKNOWN, vkind, kind)
            candidates = [
                c
                for c in self.index.of_kind(kind)
                if norm(self.text[c.start : c.end]) not in used and not self._labelled_otherwise(c, key)
            ]
            spelled = {norm(self.text[c.start : c.end]) for c in candidates}
            if len(spelled) == 1:
                return Evidence(
                    key,
                    CONFLICT,
                    vkind,
                    kind,
                    reason=f"{key!r} is {_show(value)}, but the text has "
                    f"{_show(self.text[candidates[0].start : candidates[0].end])}",
                )
        return Evidence(key, UNKNOWN, vkind, kind)

    def correction(
        self, key: str, value: str, schema: Any = None, answer: Mapping[str, Any] | None = None
    ) -> str | None:
        """The text's own spelling of a value that miscopies it: a near-miss copy ("Lisboa" where the
        text says "Lisbon") or a cut-off ID ("68241" of "HC-68241"); ``None`` for anything else."""
        evidence = self.check(key, value, schema, answer)
        return evidence.spelled if evidence.status == CONFLICT else None

    def absent(self, key: str, schema: Any = None, answer: Mapping[str, Any] | None = None) -> bool:
        """The text certainly gives no value for ``key``, so ``null`` is a reading of it, not a guess:
        nothing is labelled with the key, and the key holds a kind that can be spotted (an email, a
        URL, a phone number, a date or a time) of which the text has none that ``answer`` leaves unused.
        For names and free text absence cannot be shown: never true."""
        kind = self.names.kind(key, schema)
        if kind not in _SPOTTABLE:
            return False
        used = used_values(answer or {}, key)
        if any(
            (self.names.within(f.label, key) or self.names.same(f.label, key)) and self._could_fill(f, kind)
            for f in self.fields
        ):
            return False
        return not any(norm(self.text[c.start : c.end]) not in used for c in self.index.of_kind(kind))

    # -- finding the value --------------------------------------------------------------------------
    # -- evidence helpers -----------------------------------------------------------------------------
    def names_key(self, occurrence: Occurrence, key: str, *, held: bool = False) -> bool:
        """The text names ``key`` at ``occurrence``: its label, or a word next to it ("order
        HC-68241", "34 years"); with ``held``, also the label of a field it sits further inside."""
        labels = (*occurrence.labels, *occurrence.within) if held else occurrence.labels
        # Words that name only the key's qualifier ("Shipping" for ship_to_city, "Employee" for
        # employee_number) name it only where the value is of the key's kind ("End: 2024-04-22").
        fits = self._fits(self.text[occurrence.start : occurrence.end], self.names.kind(key))
        key_words_ = self.names.canonical(key)
        if any(
            self.names.same(label, key) and (fits or says_kind(self.names.canonical(label), key_words_))
            for label in labels
        ):
            return True
        wanted = {w for w in key_words_ if len(w) > 2}
        around = {w for text in (*occurrence.before, *occurrence.after) for w in self.names.canonical(text)}
        return bool(wanted & around) and (fits or says_kind(sorted(around), key_words_))

    def _fits(self, spelled: str, kind: str | None) -> bool:
        """``spelled`` is a value of ``kind`` that can be told by its look (not a name or a place)."""
        if kind in (K.ID, K.CODE):
            return P.value_kind(spelled.strip()) in (P.KIND_ID, P.KIND_CODE, P.KIND_NUMBER)
        if kind in (K.MONEY, K.NUMBER, K.DATE, K.TIME, K.EMAIL, K.PHONE, K.URL):
            return self._holds_kind(spelled, kind)
        return False

    def _own(self, key: str, kind: str | None) -> list[Field]:
        """The fields whose label names ``key`` ("Email" for contact_email) and whose value could be one:
        "Order #: LO-59489" names an order, and an ID cannot be the order_date."""
        key_words_ = self.names.canonical(key)
        return [
            f
            for f in self.fields
            if self.names.within(f.label, key)
            and self._could_fill(f, kind)
            and (
                says_kind(self.names.canonical(f.label), key_words_)
                or self._fits(self.text[f.start : f.end].strip(" \t\"'`*,."), kind)
            )
        ]

    def _holds_kind(self, given: str, kind: str | None) -> bool:
        """``given`` holds a value of ``kind`` where the kind can be spotted (a number, a date, ...)."""
        spot = {
            K.MONEY: P.KIND_NUMBER,
            K.NUMBER: P.KIND_NUMBER,
            K.DATE: P.KIND_DATE,
            K.TIME: P.KIND_TIME,
            K.EMAIL: P.KIND_EMAIL,
            K.PHONE: P.KIND_PHONE,
            K.URL: P.KIND_URL,
        }.get(kind or "")
        if spot is None:
            return True
        finders = {
            P.KIND_NUMBER: P.numbers_in,
            P.KIND_DATE: P.dates_in,
            P.KIND_TIME: P.times_in,
            P.KIND_EMAIL: P.emails_in,
            P.KIND_PHONE: P.phones_in,
            P.KIND_URL: P.urls_in,
        }
        return any(True for _ in finders[spot](given))

    def _could_fill(self, field: Field, kind: str | None) -> bool:
        given = self.text[field.start : field.end].strip(" \t\"'`*,.")
        if kind is None or not given or P.is_placeholder(given):
            return True
        return P.value_kind(given) not in _IMPOSSIBLE.get(kind, ()) or _leading(given, kind) is not None

    def _own_values(self, own: Sequence[Field]) -> list[str]:
        values = [self.text[f.start : f.end].strip(" \t\"'`*,.") for f in own]
        return [v for v in values if v and not P.is_placeholder(v)]

    def labelled_value(self, key: str) -> str | None:
        """The one value the text labels with ``key`` itself ("pages: 641"), or ``None`` (none, or
        several). A label that only falls under the key says too little: "Shipping: FREE" is no
        ship_to_city."""
        own = [f for f in self._own(key, self.names.kind(key)) if self.names.same(f.label, key)]
        values = {v.casefold(): v for v in self._own_values(own)}
        return next(iter(values.values())) if len(values) == 1 else None

    def _own_rival(self, own: Sequence[Field], value: Any, vkind: str, kind: str | None = None) -> str | None:
        """A value of ``value``'s kind that the text labels with this key, when it is not ``value``."""
        if isinstance(value, bool):
            said = [P.bool_word(v) for v in self._own_values(own)]
            return next((json_literal(b) for b in said if b is not None and b is not value), None)
        if vkind not in (
            P.KIND_EMAIL,
            P.KIND_URL,
            P.KIND_DATE,
            P.KIND_TIME,
            P.KIND_DATETIME,
            P.KIND_PHONE,
            P.KIND_MONEY,
            P.KIND_NUMBER,
            P.KIND_ID,
            P.KIND_CODE,
        ):
            return None
        if self.derived and vkind in (P.KIND_MONEY, P.KIND_NUMBER):
            return None  # "total including tax": the answer may compute what the text states
        for f in own:
            given = self.text[f.start : f.end].strip(" \t\"'`*,.")
            if given and P.value_kind(given) == vkind and not equivalent(given, value):
                return given
            # The value the field leads with, before a remark: "Your excess: £500.00 (includes £250
            # voluntary excess)" gives 500, not 250.
            lead = _leading(given, kind)
            if lead is not None and not equivalent(lead, value):
                return lead
        return None

    def _named_field_rival(
        self, key: str, kind: str | None, value: Any, occurrences: Sequence[Occurrence]
    ) -> str | None:
        """The value of the one field whose label is exactly the key ("Tracking number: PW 1357 ..." for
        ``tracking_number``), when the answer's value stands nowhere in it: the text says otherwise."""
        exact = [f for f in self._own(key, kind) if self.names.canonical(f.label) == self.names.canonical(key)]
        if len(exact) != 1:
            return None
        field = exact[0]
        given = self.text[field.start : field.end].strip(" \t\"'`*,.")
        if not given or P.is_placeholder(given) or any(field.start <= o.start < field.end for o in occurrences):
            return None
        if sum(c.isdigit() for c in given) < 3 or re.search(r"[<>{}]", given):
            return None  # words ("same as billing") or a format ("+<E.164>"), not a value that rivals
        if equivalent(given, value) or (isinstance(value, str) and value.strip().casefold() in given.casefold()):
            return None
        return given

    def _could_hold(self, key: str, value_kind: str) -> bool:
        kind = self.names.kind(key)
        return kind is None or value_kind not in _IMPOSSIBLE.get(kind, ()) and value_kind not in _UNLIKELY.get(kind, ())

    def _claimed_by(
        self, occurrences: Sequence[Occurrence], key: str, value: Any, answer: Mapping[str, Any], value_kind: str = ""
    ) -> str | None:
        """The other requested key that labels every occurrence, when it holds something else."""
        claimant = None
        exact = True  # every occurrence's label is exactly the other key ("Ticket number" for ticket_number)
        for occ in occurrences:
            if any(self.names.same(label, key) for label in occ.labels):
                return None
            # A label claims the value for another key only if that key could hold it: "Employee:
            # Sarah Lindqvist (EMP-04417)" does not give the name as the employee_id.
            fits = [k for k in self.keys if k != key and self._could_hold(k, value_kind)]
            others = [k for k in fits if any(self.names.within(label, k) for label in occ.labels)]
            if not others:
                return None
            claimant = claimant or others[0]
            exact = exact and any(self.names.canonical(label) == self.names.canonical(claimant) for label in occ.labels)
        if claimant is None:
            return None
        if value is not None and norm(answer.get(claimant)) == norm(value):
            # Both keys hold it. Only when a label names the other key outright and the text has
            # another value this key could hold (the flight number beside the ticket number) is it a
            # copy under the wrong key; "Customer: Maria Lopez" may well be the name too.
            kind = self.names.kind(key)
            if not exact or kind is None or self._unused(kind, answer) is None:
                return None
        return " ".join(key_words(claimant))

    def _labelled_otherwise(self, found: P.Found, key: str) -> bool:
        occ = self.index.occurrence(found.start, found.end)
        return bool(occ.labels) and not any(self.names.same(label, key) for label in occ.labels)

    def _unused(self, kind: str, answer: Mapping[str, Any]) -> str | None:
        """A value of ``kind`` in the text that no key of ``answer`` holds."""
        used = used_values(answer, None)
        if kind in (K.ID, K.CODE):
            for token in TOKEN.finditer(self.text):
                spelled = token.group(0)
                if P.value_kind(spelled) == (P.KIND_ID if kind == K.ID else P.KIND_CODE) and norm(spelled) not in used:
                    return spelled
            return None
        if kind in (K.NAME, K.PLACE):
            return None  # proper names are too loose to offer as the alternative
        for found in self.index.of_kind(kind):
            spelled = self.text[found.start : found.end]
            numbers = {norm(v) for v in used}
            if norm(spelled) not in used and norm(found.norm) not in numbers:
                return spelled
        return None

    def rival(
        self, value: Any, answer: Mapping[str, Any], within: Sequence[tuple[int, int]] | None = None
    ) -> str | None:
        """Another value in the text of ``value``'s kind that no key of ``answer`` holds.

        For a scalar copied from the text this asks: could a differently worded request have meant
        that one instead? Numbers inside dates, times and phones belong to them; proper names are
        capitalised runs inside sentences (not labels); free text competes only with the other items
        of the list it was picked from ("Options: positive, negative").
        """
        vkind = P.value_kind(value)
        used = used_values(answer, None)

        def inside(start: int) -> bool:
            return within is None or any(s <= start < e for s, e in within)

        spelled: list[str]
        if vkind in (P.KIND_NUMBER, P.KIND_MONEY):
            # Only a number of the same shape competes: a card's "4821" is not rivalled by a price 5.25.
            shape = number_shape(value)
            spelled = [
                self.text[n.start : n.end]
                for n in self.index.plain_numbers
                if inside(n.start) and number_shape(self.text[n.start : n.end]) == shape
            ]
        elif vkind in (P.KIND_EMAIL, P.KIND_URL, P.KIND_PHONE, P.KIND_DATE, P.KIND_DATETIME, P.KIND_TIME):
            found = {
                P.KIND_EMAIL: self.index.emails,
                P.KIND_URL: self.index.urls,
                P.KIND_PHONE: self.index.phones,
                P.KIND_TIME: self.index.times,
            }.get(vkind, self.index.dates)
            taken = {occ.start for v in leaves(answer) for occ in self.index.find(v, P.value_kind(v))[0]}
            spelled = [self.text[f.start : f.end] for f in found if inside(f.start) and f.start not in taken]
        elif vkind in (P.KIND_ID, P.KIND_CODE):
            spelled = [
                t.group(0) for t in TOKEN.finditer(self.text) if inside(t.start()) and P.value_kind(t.group(0)) == vkind
            ]
        elif vkind == P.KIND_NAME:
            # Capitalised words are everywhere (places, companies, products); a name competes with
            # another only in a parallel position: both labelled ("From: Alice", "To: Bob") or both
            # items of one list.
            listed = self.index.listed_with(value)
            if listed:
                spelled = listed
            elif any(o.labels for o in self.index.find(value, vkind)[0]):
                spelled = [
                    self.text[f.start : f.end].strip()
                    for f in self.fields
                    if inside(f.start) and P.value_kind(self.text[f.start : f.end].strip(" \t\"'`*,.")) == P.KIND_NAME
                ]
            else:
                spelled = []
        else:
            spelled = self.index.listed_with(value)
        for other in spelled:
            spelled_norm = norm(other)
            if (
                spelled_norm
                and spelled_norm not in used
                and not any(spelled_norm in u or u in spelled_norm for u in used if len(u) > 2)
            ):
                return other
        return None

    def _said_as(self, occurrences: Sequence[Occurrence], key: str) -> str:
        labels = [label for o in occurrences for label in o.labels if not self.names.same(label, key)]
        return f" (the text gives it as {labels[0]!r})" if labels else ""

    def _worded_number(self, key: str, value: Any, answer: Mapping[str, Any]) -> str | None:
        """A number the text words with this key ("ordered 5 items", "Total 10.63 USD") when the
        answer's number is nowhere in the text: the answer is a miscopy, not a computation, since
        the text states the value."""
        used = used_values(answer, key)
        for n in self.index.plain_numbers:
            spelled = self.text[n.start : n.end]
            if norm(n.norm) in used or norm(spelled) in used:
                continue
            if self.names_key(self.index.occurrence(n.start, n.end), key):
                return spelled
        return None


# -- wording of reasons ------------------------------------------------------------------------------


def _number_of(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    digits = P.digits(str(value).split(".")[0]) + (
        "." + P.digits(str(value).split(".")[1]) if "." in str(value) else ""
    )
    try:
        return float(digits)
    except ValueError:
        return float("nan")


def _show(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _a(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + {"name": "proper name", "id": "ID", "url": "URL"}.get(kind, kind)


def _leading(given: str, kind: str | None) -> str | None:
    """The number, date or time ``given`` begins with (a currency sign aside) when a remark in
    parentheses follows it ("£500.00 (includes £250 voluntary excess)"), for a key of that kind. A
    range ("€86,000 – €107,000") or a list leads with nothing: its values are all the field's."""
    finder = {K.NUMBER: P.numbers_in, K.MONEY: P.numbers_in, K.DATE: P.dates_in, K.TIME: P.times_in}.get(kind or "")
    lead = next(iter(finder(given)), None) if finder is not None and given else None
    if lead is None or lead.start > 2 or not given[lead.end :].lstrip().startswith("("):
        return None
    return given[: lead.end]


def _leads_or_none(given: str, kind: str | None, value: Any) -> bool:
    """The field leads with ``value``, or with no number, date or time at all."""
    lead = _leading(given.strip(" \t\"'`*,."), kind)
    return lead is None or equivalent(lead, value)
