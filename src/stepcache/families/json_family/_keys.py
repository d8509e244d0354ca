"""What a key name means: its words, the kind of value it implies, and when two names mean the same.

Two names mean the same thing (a cached value may move from one to the other) when

* they spell the same words (``firstName`` / ``first_name`` / ``First Name``, ``pages`` / ``page``);
* one extends the other (``name`` → ``full_name``, ``price`` → ``price_usd``, ``id`` → ``order_id``);
* one abbreviates the other word by word (``qty`` / ``quantity``, ``desc`` / ``description``) or by
  initials (``dob`` / ``date_of_birth``);
* an alias group says so (built-ins below; ``JsonFamily(aliases=[{"email", "mail"}])`` adds more).

Anything else is a *replacement*: ``city`` → ``email`` keeps the slot, not the meaning. Between two
keys (not a key and a text label) an extension must also keep the kind the name implies:
``shipper`` → ``shipper_city`` names a property of the shipper, not the shipper.

A key's kind (``email``, ``date``, ``money``, ...) comes from its JSON Schema ``format``/``type``
when there is one, else from its words. Kinds only ever *forbid* clear contradictions (an email
under ``start_time``); an unknown kind forbids nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["KeyNames", "key_words", "BUILTIN_ALIASES"]

#: Groups of names that mean the same; the first member is the group's canonical spelling. Members
#: may be multi-word (``date_of_birth``).
BUILTIN_ALIASES: tuple[tuple[str, ...], ...] = (
    ("email", "e_mail", "mail"),
    ("phone", "telephone", "tel", "mobile", "cell", "cellphone"),
    ("zip", "zipcode", "postcode", "postal_code", "post_code"),
    ("quantity", "qty"),
    ("birthdate", "dob", "date_of_birth", "birth_date", "birthday"),
    ("url", "website", "web_site", "homepage", "link", "uri"),
    ("lastname", "surname", "last_name", "family_name"),
    ("firstname", "first_name", "given_name", "forename"),
    ("company", "employer", "organisation", "organization"),
    ("brand", "maker", "manufacturer"),
    ("author", "writer"),
    ("country", "nation"),
    ("occupation", "job", "job_title", "profession"),
    ("id", "identifier"),
    ("gender", "sex"),
    ("city", "town"),
    ("sender", "from"),  # an email's "From:" / "To:" headers
    ("recipient", "to"),
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_VOWELS = frozenset("aeiou")
# Grammar words that join the parts of a name ("date_of_birth"); they never carry its meaning alone.
_JOINERS = frozenset({"of", "the", "a", "an", "in", "for", "per", "to", "at", "on", "by"})
# A label addressing the reader says no more than the bare name: "Your excess" is the excess.
_POSSESSIVES = frozenset({"your", "our", "my"})
# A name that adds one of these to another is its opposite, not an extension of it.
_NEGATIONS = frozenset({"not", "no", "non", "un", "never", "without"})


def key_words(name: str) -> tuple[str, ...]:
    """``"firstName"`` → ``("first", "name")``; ``"Total Pages"`` → ``("total", "page")``."""
    spaced = _CAMEL.sub(" ", name.strip())
    return tuple(_singular(w) for w in _NON_WORD.split(spaced.casefold()) if w)


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _abbreviates(short: str, long: str) -> bool:
    """``short`` is a clipped (``desc``) or vowel-less (``qty``) spelling of ``long``."""
    if len(short) >= len(long) or short[:1] != long[:1]:
        return False
    if len(short) >= 3 and len(long) >= len(short) + 3 and long.startswith(short):
        return True  # clipped: desc/description, addr/address (but not age/agent)
    if len(short) >= 2 and not (set(short[1:]) & _VOWELS):  # qty, amt, yr, pwd
        letters = iter(long)
        return all(ch in letters for ch in short)
    return False


def _initials(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    """``("dob",)`` spells the initials of ``("date", "of", "birth")``."""
    return len(short) == 1 and len(long) >= 3 and len(short[0]) == len(long) and short[0] == "".join(w[0] for w in long)


# -- kinds ---------------------------------------------------------------------------------------------

EMAIL, URL, PHONE, DATE, TIME, DATETIME = "email", "url", "phone", "date", "time", "datetime"
BOOLEAN, MONEY, NUMBER, ID, CODE, NAME, PLACE = "boolean", "money", "number", "id", "code", "name", "place"

_FORMAT_KIND = {
    "email": EMAIL,
    "idn-email": EMAIL,
    "uri": URL,
    "url": URL,
    "iri": URL,
    "uri-reference": URL,
    "date": DATE,
    "time": TIME,
    "date-time": DATETIME,
}
_CURRENCY_WORDS = frozenset({"usd", "eur", "gbp", "jpy", "chf", "cad", "aud", "cny", "inr", "sek", "nok", "dkk"})
_UNIT_WORDS = frozenset(
    {
        "kg",
        "g",
        "gram",
        "lb",
        "oz",
        "km",
        "km2",
        "m",
        "cm",
        "mm",
        "mi",
        "ml",
        "l",
        "sec",
        "second",
        "minute",
        "hour",
        "day",
        "week",
        "month",
        "percent",
        "pct",
    }
)
# Word → kind; checked in this order, so "phone_number" is a phone before "number" makes it an ID.
_WORD_KINDS: tuple[tuple[str, frozenset[str]], ...] = (
    (EMAIL, frozenset({"email"})),
    (URL, frozenset({"url"})),
    (PHONE, frozenset({"phone", "fax"})),
    (DATETIME, frozenset({"datetime", "timestamp"})),
    (DATE, frozenset({"date", "birthdate", "day"})),
    (TIME, frozenset({"time"})),
    (CODE, frozenset({"currency", "locale", "language", "lang"})),
    (
        MONEY,
        frozenset(
            {
                "price",
                "cost",
                "amount",
                "total",
                "subtotal",
                "fee",
                "salary",
                "balance",
                "budget",
                "revenue",
                "tax",
                "payment",
                "tip",
            }
        )
        | _CURRENCY_WORDS,
    ),
    (
        NUMBER,
        frozenset(
            {
                "count",
                "qty",
                "quantity",
                "age",
                "year",
                "population",
                "weight",
                "height",
                "length",
                "width",
                "distance",
                "duration",
                "score",
                "rating",
                "temperature",
            }
        )
        | _UNIT_WORDS,
    ),
    (ID, frozenset({"id", "sku", "isbn", "uuid", "code", "number", "ref", "reference", "no"})),
    (NAME, frozenset({"name", "firstname", "lastname", "author", "customer", "holder", "passenger", "patient"})),
    (PLACE, frozenset({"city", "country", "address", "street", "location", "continent", "state"})),
)
_BOOLEAN_HEADS = frozenset(
    {"is", "has", "have", "can", "should", "was", "were", "did", "does", "needs", "allow", "allows"}
)
_BOOLEAN_KEYS = frozenset({("in", "stock"), ("paid",), ("active",), ("enabled",), ("verified",), ("available",)})
_CODE_KEYS = frozenset({"country", "currency", "language", "lang", "locale", "iso"})


class KeyNames:
    """Key-name reasoning with the built-in aliases plus the caller's own groups."""

    def __init__(self, aliases: Iterable[Iterable[str]] = ()) -> None:
        # The caller's groups (often sets) are spelled in sorted order; a member that is already an
        # alias joins its group, so {"mail", "inbox"} makes "inbox" an email too.
        groups = [*BUILTIN_ALIASES, *(sorted(g) for g in aliases)]
        canon: dict[tuple[str, ...], tuple[str, ...]] = {}  # alias words → canonical words
        for group in groups:
            spellings = [key_words(m) for m in group if key_words(m)]
            if not spellings:
                continue
            target = next((canon[w] for w in spellings if w in canon), spellings[0])
            for words in spellings:
                canon.setdefault(words, target)
        self._canon = sorted(canon.items(), key=lambda kv: -len(kv[0]))
        self._memo: dict[tuple[str, str], bool] = {}
        self._canonical: dict[str, tuple[str, ...]] = {}

    def canonical(self, name: str) -> tuple[str, ...]:
        """``name``'s words with every alias replaced by its group's canonical spelling."""
        found = self._canonical.get(name)
        if found is None:
            if len(self._canonical) > 8192:
                self._canonical.clear()
            found = self._canonical[name] = self._spell(name)
        return found

    def _spell(self, name: str) -> tuple[str, ...]:
        words = list(key_words(name))
        out: list[str] = []
        i = 0
        while i < len(words):
            for spelling, target in self._canon:
                if tuple(words[i : i + len(spelling)]) == spelling:
                    out.extend(target)
                    i += len(spelling)
                    break
            else:
                out.append(words[i])
                i += 1
        return tuple(out)

    def same(self, a: str, b: str) -> bool:
        """``a`` and ``b`` name the same thing (see the module docstring for the evidence taken)."""
        memo_key = (a, b) if a <= b else (b, a)
        found = self._memo.get(memo_key)
        if found is None:
            found = self._same(a, b)
            if len(self._memo) > 4096:
                self._memo.clear()
            self._memo[memo_key] = found
        return found

    def _same(self, a: str, b: str) -> bool:
        wa, wb = self.canonical(a), self.canonical(b)
        if not wa or not wb:
            return False
        if wa == wb or tuple(map(_stem, wa)) == tuple(map(_stem, wb)):
            return True
        short, long = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
        if _initials(short, long):
            return True
        if set(long) & _NEGATIONS and not set(short) & _NEGATIONS:
            return False  # "active" vs "not_active": the opposite, not an extension
        return _embeds([w for w in short if w not in _JOINERS], [w for w in long if w not in _JOINERS])

    def renames(self, old: str, new: str) -> bool:
        """A cached value under ``old`` may move to ``new``: they mean the same, and an extension
        does not change what kind of thing the key holds (``name`` → ``full_name`` does,
        ``shipper`` → ``shipper_city`` and ``customer`` → ``customer_email`` do not)."""
        if not self.same(old, new):
            return False
        kinds = self._name_kind(old), self._name_kind(new)
        if kinds[0] == kinds[1]:
            return True
        if None not in kinds:
            return False  # customer → customer_email: a name, then an email
        # One kind unknown: fine for a respelling ("amt" → "amount"), not for an extension that
        # adds the kind ("shipper" → "shipper_city").
        return len(self.canonical(old)) == len(self.canonical(new))

    def within(self, label: str, key: str) -> bool:
        """``label`` names ``key`` or something broader it falls under: "Email" and "E-mail" are
        within ``contact_email``; "Support email" is not within ``email`` (it is more specific).

        The directional test for evidence *against* a value: a label that only overlaps a key's
        name ("Support email" vs ``email``) is not the text saying what that key is.
        """
        lw = [w for w in self.canonical(label) if w not in _JOINERS and w not in _POSSESSIVES]
        kw = [w for w in self.canonical(key) if w not in _JOINERS]
        if not lw or not kw or len(lw) > len(kw):
            return False
        return lw == kw or self.same(label, key) and _embeds(lw, kw)

    def kind(self, key: str, schema: Any = None) -> str | None:
        """What ``key`` implies about its value; a JSON Schema ``format``/``type`` beats the name."""
        if isinstance(schema, dict):
            fmt = schema.get("format")
            if isinstance(fmt, str) and fmt in _FORMAT_KIND:
                return _FORMAT_KIND[fmt]
            declared = schema.get("type")
            types = {declared} if isinstance(declared, str) else set(declared) if isinstance(declared, list) else set()
            types.discard("null")
            if types == {"boolean"}:
                return BOOLEAN
            if types and types <= {"integer", "number"}:
                return MONEY if self._name_kind(key) == MONEY else NUMBER
            if types and "string" not in types:
                return None  # objects and arrays: their leaves are checked under their own names
            name_kind = self._name_kind(key)
            if types == {"string"} and name_kind in (BOOLEAN, MONEY, NUMBER):
                return None  # the schema says text: a price "on request" is allowed
            return name_kind
        return self._name_kind(key)

    def _name_kind(self, key: str) -> str | None:
        words = self.canonical(key)
        if not words:
            return None
        if words[-1] == "at" and len(words) > 1:  # created_at, updated_at
            return DATETIME
        flag = words[0] in _BOOLEAN_HEADS or (words[0].endswith("ed") and len(words[0]) > 4)
        if flag and len(words) > 1 or words in _BOOLEAN_KEYS:
            # "is_active" is a flag; "verified_email" or "has_email" may be a flag or an email: no kind.
            other = self._name_kind("_".join(words[1:])) if len(words) > 1 else None
            if other in (DATE, TIME, DATETIME) and words[0] not in _BOOLEAN_HEADS:
                return other  # started_time, shipped_date: when it happened, not whether
            return BOOLEAN if other in (None, BOOLEAN) else None
        if words[-1] == "code" and len(words) > 1 and words[0] in _CODE_KEYS:
            return CODE
        head = set(words)
        for kind, names in _WORD_KINDS:
            if kind in (NAME, PLACE) and words[-1] not in names:
                continue  # "name_length" is a number, not a name: these two go by the last word
            if head & names:
                if kind == DATE and "time" in head:
                    return DATETIME
                if kind == TIME and head & {"zone", "spent", "taken", "out"}:
                    return None  # time_zone, time_spent: not a clock time
                return kind
        return None


def says_kind(label: Sequence[str], key: Sequence[str]) -> bool:
    """The label names the kind of value the key's name does, when the key's name names one: a word
    of the same kind ("Total" for total_amount, "Email" for contact_email; "Shipping" names no city)."""
    groups = [names for _, names in _WORD_KINDS if set(key) & names]
    return not groups or any(set(label) & names for names in groups)


def _embeds(short: Sequence[str], long: Sequence[str]) -> bool:
    """Every word of ``short`` matches a distinct word of ``long`` in order (equal up to an inflection
    — "issued" / "issue" — or abbreviated)."""
    if not short or len(short) > len(long):
        return False
    i = 0
    for word in long:
        if i < len(short) and (
            word == short[i]
            or _stem(word) == _stem(short[i])
            or _abbreviates(short[i], word)
            or _abbreviates(word, short[i])
        ):
            i += 1
    return i == len(short)


def _stem(word: str) -> str:
    """A crude stem for matching names: "issued", "issue", "issues" → "issu"; "shipped" → "ship"."""
    if len(word) <= 3:
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith(("ss", "us", "is")):
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word
