"""Value patterns: what kind of thing a value is, and the normalised forms two spellings share.

"April 20, 2024" and "2024-04-20" are one date, "6:30 pm" and "18:30" one time, "$8,182,032" and
``8182032`` one number. Grounding compares values in these forms; each finder returns spans so the
evidence can point at the text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KIND_EMAIL",
    "KIND_URL",
    "KIND_DATE",
    "KIND_TIME",
    "KIND_DATETIME",
    "KIND_PHONE",
    "KIND_MONEY",
    "KIND_NUMBER",
    "KIND_BOOLEAN",
    "KIND_ID",
    "KIND_CODE",
    "KIND_NAME",
    "KIND_TEXT",
    "KIND_NULL",
    "Found",
    "value_kind",
    "dates_in",
    "times_in",
    "numbers_in",
    "emails_in",
    "urls_in",
    "phones_in",
    "parse_date",
    "parse_time",
    "parse_number",
    "is_placeholder",
    "digits",
]

KIND_EMAIL, KIND_URL, KIND_DATE, KIND_TIME, KIND_DATETIME = "email", "url", "date", "time", "datetime"
KIND_PHONE, KIND_MONEY, KIND_NUMBER, KIND_BOOLEAN, KIND_ID = "phone", "money", "number", "boolean", "id"
KIND_CODE, KIND_NAME, KIND_TEXT, KIND_NULL = "code", "name", "text", "null"

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        (
            "jan january",
            "feb february",
            "mar march",
            "apr april",
            "may",
            "jun june",
            "jul july",
            "aug august",
            "sep sept september",
            "oct october",
            "nov november",
            "dec december",
        )
    )
    for m in names.split()
}
_WEEKDAYS = frozenset(
    "mon monday tue tues tuesday wed wednesday thu thur thurs thursday fri friday sat saturday sun sunday".split()
)
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_MONTH_BARE = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_DATE_RES = (
    re.compile(r"(?<![\w-])(?P<year>\d{4})-(?P<m>[01]?\d)-(?P<day>[0-3]?\d)(?![\w-])"),
    re.compile(r"(?<![\w/.])(?P<a>[0-3]?\d)(?P<sep>[/.])(?P<b>[0-3]?\d)(?P=sep)(?P<year>\d{4}|\d{2})(?![\w/]|\.\d)"),
    # 25-04-2025: with dashes only with a four-digit year ("03-04-25" may be a code)
    re.compile(r"(?<![\w/.-])(?P<a>[0-3]?\d)-(?P<b>[0-3]?\d)-(?P<year>\d{4})(?![\w/-]|\.\d)"),
    re.compile(rf"(?<!\w){_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?(?!\w)", re.IGNORECASE),
    re.compile(rf"(?<!\w){_DAY}(?:\s+of)?\s+{_MONTH}(?:,?\s+{_YEAR})?(?!\w)", re.IGNORECASE),
    re.compile(rf"(?<!\w){_MONTH}\s+{_YEAR}(?!\w)", re.IGNORECASE),
    # airline and banking style, written as one token: 18JAN2024, 18-Jan-2024
    re.compile(rf"(?<![\w-]){_DAY}-?{_MONTH_BARE}-?{_YEAR}(?![\w-])", re.IGNORECASE),
)
_TIME_RE = re.compile(
    r"(?<![\w:.])(?P<h>[0-2]?\d)(?::(?P<m>[0-5]\d))?(?::[0-5]\d)?\s*(?P<ampm>[ap]\.?\s?m\.?)?(?![\w:])"
    r"|(?P<word>noon|midnight)",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_RE = re.compile(
    r"(?<![\w@])(?:https?://|www\.)[^\s<>\"')\]]+"
    r"|(?<![\w@./-])[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|dev|edu|gov|co|uk|de|fr|es|it|nl|eu|info|app)"
    r"(?:/[^\s<>\"')\]]*)?(?![\w@-])",
    re.IGNORECASE,
)
_PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+\d[\d\s().-]{6,}\d|\(\d{2,4}\)\s?\d[\d\s.-]{4,}\d|\d{3}[-.]\d{3}[-.]\d{4}|\d{3}-\d{4}"
    r"|0\d{2,4}(?:[ -]\d{3,4}){1,3})(?![\w-])"  # a national number: "07700 900123", "020 7946 0321"
)
_CURRENCY = r"(?:[$€£¥₹]|usd|eur|gbp|jpy|chf|cad|aud|us\$)"
_NUMBER_RE = re.compile(
    # Not a part of a longer token: "68241" in "HC-68241", "04" in "2024-04-20" and "18" in "18:30" are
    # not numbers of their own.
    # Decimal commas too: "10,10 €", "1.250,00" (a comma before one or two digits is a decimal point).
    rf"(?P<pre>{_CURRENCY}\s?)?(?<![\w.:])(?<!\w[-/#_])(?P<neg>-)?(?P<num>\d{{1,3}}(?:\.\d{{3}})+,\d{{1,2}}(?!\d)"
    rf"|\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+,\d{{1,2}}(?![\d,])|\d+(?:\.\d+)?)"
    rf"(?P<suf>\s?(?:{_CURRENCY}|%|k\b))?(?![\w.]\d|\w|[-/:_]\w)",
    re.IGNORECASE,
)
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "dozen": 12,
    "half": 0.5,
}
_NUMBER_WORD_RE = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_PLACEHOLDERS = frozenset(
    {
        "",
        "-",
        "--",
        "—",
        "n/a",
        "na",
        "none",
        "null",
        "nil",
        "unknown",
        "not provided",
        "not given",
        "not available",
        "not specified",
        "tbd",
        "tba",
        "?",
        "...",
        "…",
        "no data",
    }
)
_ID_RE = re.compile(
    r"(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9]+(?:[-_/#][A-Za-z0-9]+)*|\d+(?:[-_/#]\d+)+"
    r"|[A-Z0-9]+(?:-[A-Z0-9]+)+"  # all-caps codes joined by hyphens: "TS-BLK-M", "MUG-LOGO"
)
_CODE_RE = re.compile(r"[A-Z]{2,4}")
_BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "y": True, "n": False}


@dataclass(frozen=True, slots=True)
class Found:
    """One value spotted in a text: its span and its normalised form."""

    start: int
    end: int
    norm: Any


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def is_placeholder(value: Any) -> bool:
    """``None``, "", "N/A", "unknown", ...: a value that says there is no value."""
    return value is None or (isinstance(value, str) and value.strip().casefold() in _PLACEHOLDERS)


# -- dates and times -------------------------------------------------------------------------------------

DateNorm = tuple[int | None, int, int | None]  # (year, month, day); a missing part is None


def _date_parts(m: re.Match[str]) -> list[DateNorm]:
    groups = m.groupdict()
    year = groups.get("year")
    y = None if year is None else (int(year) + 2000 if len(year) == 2 else int(year))
    if groups.get("mon"):
        mon = _MONTHS[groups["mon"].lower().rstrip(".")]
        day = int(groups["day"]) if groups.get("day") else None
        return [(y, mon, day)] if day is None or 1 <= day <= 31 else []
    if groups.get("m"):
        mon, day = int(groups["m"]), int(groups["day"])
        return [(y, mon, day)] if 1 <= mon <= 12 and 1 <= day <= 31 else []
    a, b = int(groups["a"]), int(groups["b"])
    readings = [(y, b, a), (y, a, b)]  # day/month first (most of the world), then month/day
    return [r for r in dict.fromkeys(readings) if 1 <= r[1] <= 12 and r[2] is not None and 1 <= r[2] <= 31]


def dates_in(text: str) -> Iterator[Found]:
    """Every date spelled in ``text``; an ambiguous 03/04/2024 yields both readings."""
    taken: list[tuple[int, int]] = []  # sorted, disjoint: a later pattern never re-reads a date
    for pattern in _DATE_RES:
        for m in pattern.finditer(text):
            i = bisect.bisect_left(taken, (m.start(), m.start()))
            if (i < len(taken) and taken[i][0] < m.end()) or (i and taken[i - 1][1] > m.start()):
                continue
            parts = _date_parts(m)
            if parts:
                taken.insert(i, (m.start(), m.end()))
            for norm in parts:
                yield Found(m.start(), m.end(), norm)


def parse_date(value: str) -> list[DateNorm]:
    """The readings of ``value`` when it is one whole date ("2024-04-20", "April 20", "20/04/2024")."""
    stripped = value.strip()
    for pattern in _DATE_RES:
        m = pattern.fullmatch(stripped)
        if m is not None:
            return _date_parts(m)
    return []


def same_date(a: DateNorm, b: DateNorm) -> bool:
    """Equal where both say something: "April 20" is the same day as "2024-04-20"."""
    return all(x is None or y is None or x == y for x, y in zip(a, b)) and a[1] == b[1]


def _minutes(m: re.Match[str]) -> int | None:
    if m.group("word"):
        return 12 * 60 if m.group("word").lower() == "noon" else 0
    hour, minute, ampm = int(m.group("h")), m.group("m"), m.group("ampm")
    if minute is None and ampm is None:
        return None  # a bare number is not a time
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.lower().startswith("p") else 0)
    if hour > 23:
        return None
    return hour * 60 + int(minute or 0)


def times_in(text: str) -> Iterator[Found]:
    for m in _TIME_RE.finditer(text):
        minutes = _minutes(m)
        if minutes is not None:
            yield Found(m.start(), m.end(), minutes)


def parse_time(value: str) -> int | None:
    m = _TIME_RE.fullmatch(value.strip())
    return None if m is None else _minutes(m)


# -- numbers, emails, urls, phones ----------------------------------------------------------------------


def _number_of(spelled: str) -> float:
    """ "8,182,032" → 8182032; "10,10" → 10.1; "1.250,00" → 1250.0."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+,\d{1,2}|\d+,\d{1,2}", spelled):
        return float(spelled.replace(".", "").replace(",", "."))
    return float(spelled.replace(",", ""))


def numbers_in(text: str) -> Iterator[Found]:
    """Numbers with thousands separators, decimal commas, currency signs and % read as plain numbers."""
    for m in _NUMBER_RE.finditer(text):
        number = _number_of(m.group("num"))
        if m.group("neg"):
            number = -number
        suffix = (m.group("suf") or "").strip().lower()
        if suffix == "k":
            number *= 1000
        yield Found(m.start(), m.end(), number)
        if suffix == "%":
            yield Found(m.start(), m.end(), number / 100)
    for m in _NUMBER_WORD_RE.finditer(text):
        yield Found(m.start(), m.end(), float(_NUMBER_WORDS[m.group(1).lower()]))


def parse_number(value: Any) -> float | None:
    """A JSON number, or a string that is one number ("8,182,032", "$12.50", "15%" → 15)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    m = _NUMBER_RE.fullmatch(stripped)
    if m is not None:
        number = _number_of(m.group("num"))
        return -number if m.group("neg") else number
    word = stripped.lower()
    return float(_NUMBER_WORDS[word]) if word in _NUMBER_WORDS else None


def emails_in(text: str) -> Iterator[Found]:
    for m in _EMAIL_RE.finditer(text):
        yield Found(m.start(), m.end(), m.group(0).casefold().rstrip("."))


def urls_in(text: str) -> Iterator[Found]:
    for m in _URL_RE.finditer(text):
        yield Found(m.start(), m.end(), _url_norm(m.group(0)))


def _url_norm(url: str) -> str:
    url = url.strip().rstrip(".,;").casefold()
    url = re.sub(r"^https?://", "", url)
    return url.removeprefix("www.").rstrip("/")


def phones_in(text: str) -> Iterator[Found]:
    for m in _PHONE_RE.finditer(text):
        if not any(_date_overlap(m.group(0))):
            yield Found(m.start(), m.end(), digits(m.group(0)))


def _date_overlap(text: str) -> Iterator[bool]:
    for pattern in _DATE_RES[:3]:
        yield pattern.fullmatch(text.strip()) is not None


def same_phone(a: str, b: str) -> bool:
    """Digits equal, or one ends with the other (a country code added or dropped)."""
    if len(a) < 7 or len(b) < 7:
        return False
    return a == b or a.endswith(b) or b.endswith(a)


def url_norm(value: str) -> str:
    return _url_norm(value)


# -- kinds ------------------------------------------------------------------------------------------------


def value_kind(value: Any) -> str:
    """The pattern kind of a JSON value. Strings are read by their shape, never by the key they sit under."""
    if value is None:
        return KIND_NULL
    if isinstance(value, bool):
        return KIND_BOOLEAN
    if isinstance(value, (int, float)):
        return KIND_NUMBER
    if not isinstance(value, str):
        return KIND_TEXT
    text = value.strip()
    if not text:
        return KIND_TEXT
    if _EMAIL_RE.fullmatch(text):
        return KIND_EMAIL
    if _URL_RE.fullmatch(text):
        return KIND_URL
    has_date = bool(parse_date(text)) or _has_date(text)
    has_time = parse_time(text) is not None or _has_time(text)
    if has_date and has_time:
        return KIND_DATETIME
    if parse_date(text) or text.casefold() in _WEEKDAYS or text.casefold() in _MONTHS:
        return KIND_DATE
    if parse_time(text) is not None:
        return KIND_TIME
    if _PHONE_RE.fullmatch(text):
        return KIND_PHONE
    number = _NUMBER_RE.fullmatch(text)
    if number is not None:
        return KIND_MONEY if number.group("pre") or _currency_suffix(number) else KIND_NUMBER
    if text.lower() in _BOOL_WORDS and len(text) > 1:
        return KIND_BOOLEAN
    if _ID_RE.fullmatch(text):
        return KIND_ID
    if _CODE_RE.fullmatch(text):
        return KIND_CODE
    if text.lower() in _NUMBER_WORDS:
        return KIND_NUMBER
    words = text.split()
    # A name is capitalised words with lower-case letters in them ("Maria Lopez", not "SKU TR").
    if (
        len(words) <= 6
        and all(w[:1].isupper() or w.lower() in _NAME_PARTICLES for w in words)
        and words[0][:1].isupper()
        and any(c.islower() for c in text)
    ):
        return KIND_NAME
    return KIND_TEXT


_NAME_PARTICLES = frozenset(
    {"de", "da", "del", "van", "von", "der", "la", "le", "of", "the", "and", "di", "du", "bin", "al"}
)


def _currency_suffix(m: re.Match[str]) -> bool:
    suffix = (m.group("suf") or "").strip()
    return bool(suffix) and suffix not in ("%", "k", "K")


def _has_date(text: str) -> bool:
    return any(True for _ in dates_in(text)) or any(w.casefold().strip(",.") in _WEEKDAYS for w in text.split())


def _has_time(text: str) -> bool:
    return any(True for _ in times_in(text))


#: How a field answers yes or no in words ("Gift wrap: Yes", "Breakfast: not included", "AutoPay: Enrolled").
_YES_WORDS = frozenset(
    "yes y true included include required available provided on enabled enrolled active "
    "purchased confirmed accepted requested selected subscribed".split()
)
_NO_WORDS = frozenset(
    "no n false none excluded unavailable off disabled inactive declined cancelled canceled "
    "waived unsubscribed n/a".split()
)
_WORD = re.compile(r"[a-z][\w'’/-]*")


def yes_no(spelled: str) -> bool | None:
    """``True``/``False`` for a field value that answers yes or no in words: its first word ("Yes",
    "Off – you receive paper bills"), or "not" and a yes-word ("Not enrolled"); else ``None``."""
    words = _WORD.findall(spelled.casefold())[:2]
    if not words:
        return None
    if words[0] in ("not", "never") and len(words) > 1:
        return False if words[1] in _YES_WORDS else None
    return True if words[0] in _YES_WORDS else False if words[0] in _NO_WORDS else None


def bool_word(text: str) -> bool | None:
    """``True``/``False`` for yes/no/true/false (any case), else ``None``."""
    return _BOOL_WORDS.get(text.strip().strip(".").lower())


def calendar_word(text: str) -> bool:
    return text.strip().casefold() in _WEEKDAYS or text.strip().casefold() in _MONTHS
