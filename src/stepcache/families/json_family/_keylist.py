"""Reading the key list a prompt writes, or declining to.

Four ways a prompt lists the keys it wants, tried in this order:

1. after an intro ("Required keys: a, b and c", "with fields a, b", "containing the keys ..."), on the
   same line or as bullets below it;
2. a JSON skeleton (``{"name": "", "email": ""}``, ``{name: string}``, fenced or inline) whose values are
   placeholders — or example values, when the prompt asks for JSON and the values are nowhere else in it
   (else the block is the record itself);
3. bullets under a line that asks for JSON and ends with a colon;
4. a markdown table whose first header cell is "key", "field", "property", ... , or the header row of a
   CSV / tab-separated block (a row of identifiers over a row with as many fields);
5. a run of identifiers in the sentence that asks for JSON, or in the instruction just before it
   ("Extract name, age and city as JSON", "Give me JSON with invoice_number, due_date and total").

A parenthesis after a key that names a type ("age (integer)", "paid (true/false)", "date
(YYYY-MM-DD)") is kept as that key's type hint, like a schema's ``type``/``format``.

The rules for one item of a list:

* a key is one identifier (``name``, ``start_date``, ``startDate``, ``e-mail``) or anything quoted
  (``"start date"``, `` `start date` ``);
* ``and``, ``or``, ``&``, ``etc`` separate or end items and are never keys;
* an identifier followed by a grammar word ("age *for* the older person", "city *where* ...") ends the
  list there;
* a ``{...}`` group ("members, a list of {name, role} objects") is the nested shape of the key before
  it, never top-level keys;
* two or more unquoted words ("start date") are not a key: the list is in doubt;
* in a run found by position (5), keys start with a lower-case letter: "Alice, Bob and Carol" are
  values, not keys.

A list in doubt is not guessed: :func:`find_keys` returns a :class:`KeyList` with ``doubtful=True``,
and the family declines the request (it is then handled as generic). A wrong key set would make every
answer fail verification or, worse, verify the wrong thing.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ._extract import extract_object

__all__ = ["KeyList", "find_keys"]

# The word that introduces a list; what follows is judged item by item, so "the keys are
# case-sensitive" simply yields no key.
_KEYS_INTRO = re.compile(r"\b(?:keys|fields|properties)\b(?:\s*[:=])?", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*\u2022+]|\d+[.)])\s+(.+?)\s*$")
_QUOTED = re.compile(r"""^["'`\u201c\u2018]([^"'`\u201d\u2019]{1,64})["'`\u201d\u2019]""")
_IDENT = re.compile(r"[A-Za-z_][\w]*(?:-[A-Za-z_]\w*)*")
_END_OF_LIST = re.compile(r"\.(?:\s|$)|[;\n]|:(?=\s)")
_BRACES = re.compile(r"\{[^{}]*\}")
# Grammar words: after a key they end the list ("age for the older person"); they are never keys.
_GRAMMAR = frozenset(
    """
    and or nor but etc where which that when whenever if unless so because while whereas using based given
    from for of in on to as at by about describing per with without into than then also too only exactly
    please each every all any the a an this these those is are be should must will would can could
    out up down off back over here there nothing anything everything something none no just
    """.split()
)
# Words that sit between keys without ending the list ("name, age, and also city").
_FILLERS = frozenset({"and", "or", "nor", "the", "a", "an", "please", "also", "too", "only", "exactly", "etc"})
_LONE_FILLERS = frozenset({"and", "or", "nor", "please", "also", "too", "etc"})
_SEPARATORS = re.compile(r",|\band\b|\bor\b|&|\s[+/]\s", re.IGNORECASE)
# Format notation after a key is a type hint, not a word of the key ("date yyyy-mm-dd", "time HH:MM").
_FORMAT_NOTE = re.compile(r"(?i)\b(?:yyyy|yy|mm|dd|hh|ss)(?:[-/.: ](?:yyyy|yy|mm|dd|hh|ss))+\b|\biso(?:\s*8601)?\b")
_PLACEHOLDER_VALUES = frozenset(
    """
    string str text number num int integer float double decimal bool boolean date datetime time email url
    uri array list object value any null none ... … ? yyyy-mm-dd hh:mm
    """.split()
)
_PAREN = re.compile(r"\(([^)]*)\)")
_TOP_LEVEL_COMMA = re.compile(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)")  # commas outside double quotes
# What a parenthesis after a key says about its type; the first that matches wins.
_TYPE_HINTS: tuple[tuple[re.Pattern[str], dict[str, Any]], ...] = tuple(
    (re.compile(pattern), hint)
    for pattern, hint in (
        (
            r"\bbool(?:ean)?s?\b|\btrue\s*(?:/|\bor\b|\|)\s*false\b|\byes\s*(?:/|\bor\b|\|)\s*no\b|\by/n\b",
            {"type": "boolean"},
        ),
        (r"\bint(?:eger)?s?\b|\bwhole number", {"type": "integer"}),
        (r"\bnumbers?\b|\bnumeric\b|\bfloat\b|\bdecimal\b", {"type": "number"}),
        (r"yyyy-mm-dd hh:mm|date-?time|timestamp", {"type": "string", "format": "date-time"}),
        (r"yyyy-mm-dd|\biso\b.*\bdate\b|\bdate\b", {"type": "string", "format": "date"}),
        (r"hh:mm|\btime\b", {"type": "string", "format": "time"}),
        (r"\bemail\b", {"type": "string", "format": "email"}),
        (r"\bstrings?\b|\btext\b", {"type": "string"}),
    )
)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?](?=\s|$))?")
_JSON = re.compile(r"\bjson\b", re.IGNORECASE)
_WORDS = re.compile(r"[\w-]+")
_LOWER_IDENT = re.compile(r"[a-z_][\w]*(?:-[a-z_]\w*)*")
_OTHER_FORMATS = re.compile(r"\b(?:yaml|xml|csv|toml|html|markdown|ini)\b", re.IGNORECASE)
_TABLE_HEADERS = frozenset({"key", "keys", "field", "fields", "property", "properties", "attribute", "column"})
_SKELETON = re.compile(r"```[ \t]*[\w+.-]*[ \t]*\n?(.*?)```", re.DOTALL)
_LOOSE_KEY = re.compile(r"""["'`]?([A-Za-z_][\w-]*)["'`]?\s*(?::|,|\}|$)""")


@dataclass(frozen=True)
class KeyList:
    """The keys a prompt asks for, where it lists them, and the nesting it describes."""

    keys: tuple[str, ...] = ()
    #: (start, end) of every part of the text that lists keys: instruction, not record.
    spans: tuple[tuple[int, int], ...] = ()
    #: key → nested shape: ``{"city": None}`` for an object, ``[{"name": None}]`` for a list of them.
    shape: dict[str, Any] = field(default_factory=dict)
    #: Keys are listed but cannot be read with confidence: the family declines the request.
    doubtful: bool = False
    #: A placeholder skeleton asks for JSON by itself (``Fill in {"name": ""} for ...``).
    skeleton: bool = False
    #: key → JSON Schema fragment from a parenthesis ("age (integer)" → ``{"type": "integer"}``).
    hints: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        """A list was found (or found in doubt): the next way of listing keys need not be tried."""
        return bool(self.keys) or self.doubtful


_DOUBT = KeyList(doubtful=True)


def find_keys(text: str, *, json_asked: bool) -> KeyList:
    """The key list of ``text`` (empty when there is none; ``doubtful`` when it cannot be read), with
    the type hints the text gives for its keys."""
    found = _find_keys(text, json_asked=json_asked)
    if not found.keys:
        return found
    said = _said_as(text, found.keys)
    return replace(found, hints={**said, **found.hints}) if said else found


def _said_as(text: str, keys: Sequence[str]) -> dict[str, Any]:
    """Type hints written after the list: "event_date as YYYY-MM-DD, doors_open as HH:MM (24-hour),
    face_value as a number"."""
    out: dict[str, Any] = {}
    for key in keys:
        for m in re.finditer(rf"(?<![\w-]){re.escape(key)}\s+(?:as|in)\s+([^,;\n]{{1,40}})", text):
            hint = _type_hint(m.group(1).split(". ")[0])
            if hint is not None:
                out.setdefault(key, hint)
    return out


def _find_keys(text: str, *, json_asked: bool) -> KeyList:
    listed = _intro_list(text)
    # With a written list, only a placeholder skeleton may add to it; a block of real values is data.
    skeleton = _skeleton(text, json_asked=json_asked, skip=listed.spans, placeholders_only=bool(listed.keys))
    if listed.doubtful or skeleton.doubtful:
        return _DOUBT
    if listed.keys and skeleton.keys:
        if set(listed.keys) != set(skeleton.keys):
            return _DOUBT  # two lists that disagree: which one is meant?
        return KeyList(
            listed.keys,
            listed.spans + skeleton.spans,
            {**listed.shape, **skeleton.shape},
            skeleton=skeleton.skeleton,
            hints=listed.hints,
        )
    if listed.keys:
        return listed
    if skeleton.keys:
        return skeleton
    if json_asked:
        return _bullets_after_json(text) or _table(text) or _run_near_json(text) or _csv_header(text)
    return KeyList()


# -- "keys: a, b and c" ---------------------------------------------------------------------------------


def _intro_list(text: str) -> KeyList:
    for intro in _KEYS_INTRO.finditer(text):
        rest_start = intro.end()
        line_end = text.find("\n", rest_start)
        line = text[rest_start : line_end if line_end >= 0 else len(text)]
        below = (line_end if line_end >= 0 else len(text)) + 1
        if line.strip():
            found = _inline(line, rest_start)
            if not found and line.rstrip().endswith(":"):  # "these keys and no others:" + bullets
                found = _bullet_block(text, below)
        else:
            found = _bullet_block(text, below)
        if found.doubtful:
            return found
        if found.keys:
            spans = ((intro.start(), intro.end()), *found.spans)
            return KeyList(found.keys, spans, found.shape, hints=found.hints)
    return KeyList()


def _inline(line: str, offset: int) -> KeyList:
    groups = [(m.start(), m.group(0)) for m in _BRACES.finditer(line)]
    masked = _BRACES.sub(lambda m: " " * len(m.group(0)), line)
    notes = [(m.start(), m.group(1)) for m in _PAREN.finditer(masked)]
    notes += [(m.start(), m.group(0)) for m in _FORMAT_NOTE.finditer(masked)]
    masked = _PAREN.sub(lambda m: " " * len(m.group(0)), masked)  # "age (integer)" → "age"
    masked = _FORMAT_NOTE.sub(lambda m: " " * len(m.group(0)), masked)  # "date yyyy-mm-dd" → "date"
    end = _END_OF_LIST.search(masked)
    stop = end.start() if end is not None else len(masked)
    bounds = [0, *(x for m in _SEPARATORS.finditer(masked, 0, stop) for x in (m.start(), m.end())), stop]
    keys: list[tuple[int, str]] = []
    for chunk_start, chunk_end in zip(bounds[::2], bounds[1::2]):
        key, ends = _item(masked[chunk_start:chunk_end])
        if key is None:
            # Words that are not a key: in doubt inside a list ("name, role and start date"), but
            # before any key it is prose after the word "keys" ("keys are case-sensitive").
            if keys:
                return _DOUBT
            return KeyList()
        if key and ends and _refers_back(key, [k for _, k in keys]):
            key = ""  # "..., to_account, accounts as last-4 strings": a note on keys already listed
        if key:
            keys.append((chunk_start, key))
        if ends:
            stop = chunk_end
            break
    shape: dict[str, Any] = {}
    for at, group in groups:
        if at >= stop:
            continue
        owner = [key for pos, key in keys if pos < at]
        if not owner:
            return _DOUBT  # "a list of {name, role} objects" with no key before it: not an object at all
        shape[owner[-1]] = _group_shape(group, line[:at])
    return KeyList(
        tuple(dict.fromkeys(k for _, k in keys)), ((offset, offset + stop),), shape, hints=_hints(keys, notes, stop)
    )


def _refers_back(word: str, keys: list[str]) -> bool:
    """``word`` names the words of keys already listed ("accounts" after from_account, to_account)."""
    stem = word.lower().rstrip("s")
    return any(stem in re.split(r"[_\W]+", k.lower()) for k in keys) and word not in keys


def _hints(keys: list[tuple[int, str]], notes: list[tuple[int, str]], stop: int) -> dict[str, Any]:
    """Type hints from the parenthesis after each key ("total (a number)")."""
    hints: dict[str, Any] = {}
    for at, note in notes:
        owner = [key for pos, key in keys if pos < at]
        hint = _type_hint(note)
        if owner and hint and at < stop:
            hints[owner[-1]] = hint
    return hints


def _type_hint(note: str) -> dict[str, Any] | None:
    low = note.lower()
    for pattern, hint in _TYPE_HINTS:
        if pattern.search(low):
            return dict(hint)
    return None


def _item(item: str) -> tuple[str | None, bool]:
    """``(key, the list ends here)``; key ``""`` for a word that is not a key, ``None`` when in doubt."""
    item = item.strip()
    quoted = _QUOTED.match(item)
    if quoted:
        return quoted.group(1).strip(), bool(item[quoted.end() :].strip())
    words = item.split()
    if not words:
        return "", False
    first = words[0].strip("`*\"'").rstrip(".,;:)]}").lstrip("([{").strip("`*\"'")  # "(keys: a, b)." closes
    low = first.lower()
    if len(words) == 1:  # a lone word is a key, even "from", "to" (an email's fields) or "a"
        if low in _LONE_FILLERS:
            return "", low == "etc"
        return (first, False) if _IDENT.fullmatch(first) else (None, True)
    if low in _GRAMMAR:
        return "", low not in _FILLERS  # "for the older person": prose after the list
    if not _IDENT.fullmatch(first):
        return None, True
    if words[1].lower().strip(".,") in _GRAMMAR:
        return first, True  # "age for the older person": the list ran into prose
    return None, True  # "start date": two unquoted words are not a key


def _group_shape(group: str, before: str) -> Any:
    inner = [k for k in (_item(p)[0] for p in _SEPARATORS.split(group.strip("{}"))) if k]
    obj = {k: None for k in inner}
    return [obj] if re.search(r"\b(?:list|array|arrays|lists)\s+of\s*$|\[\s*$", before.rstrip(" a"), re.I) else obj


def _bullet_block(text: str, start: int) -> KeyList:
    keys: list[str] = []
    end = start
    pos = start
    for raw in text[start:].splitlines(keepends=True):
        bullet = _BULLET.match(raw)
        if bullet is None:
            if keys or raw.strip():
                break
            pos += len(raw)
            continue
        item = re.sub(r"\([^)]*\)", " ", bullet.group(1))
        item = re.split(r"\s*[:\u2013\u2014]\s+|\s+-\s+", item, maxsplit=1)[0]  # "name: the full name"
        key, _ = _item(item)
        if key is None:
            return _DOUBT
        if key:
            keys.append(key)
        pos += len(raw)
        end = pos
    return KeyList(tuple(dict.fromkeys(keys)), ((start, end),) if keys else ())


def _bullets_after_json(text: str) -> KeyList | None:
    for m in re.finditer(r"^.*\bjson\b.*:[ \t]*$", text, re.IGNORECASE | re.MULTILINE):
        found = _bullet_block(text, m.end() + 1)
        if found.doubtful or found.keys:
            return found
    return None


def _table(text: str) -> KeyList | None:
    lines = text.splitlines(keepends=True)
    offset = 0
    for i, line in enumerate(lines):
        cells = [c.strip().strip("`*") for c in line.strip().strip("|").split("|")]
        if line.count("|") >= 2 and cells and cells[0].lower() in _TABLE_HEADERS and i + 1 < len(lines):
            keys: list[str] = []
            end = offset + len(line)
            for row in lines[i + 1 :]:
                if row.count("|") < 2:
                    break
                end += len(row)
                first = row.strip().strip("|").split("|")[0].strip().strip("`*")
                if set(first) <= set("-: "):
                    continue
                key, _ = _item(first)
                if key is None or not key:
                    return _DOUBT
                keys.append(key)
            if keys:
                return KeyList(tuple(dict.fromkeys(keys)), ((offset, end),))
        offset += len(line)
    return None


# -- JSON skeletons -------------------------------------------------------------------------------------


def _skeleton(
    text: str, *, json_asked: bool, skip: tuple[tuple[int, int], ...] = (), placeholders_only: bool = False
) -> KeyList:
    for start, end, block in _blocks(text):
        if any(s <= start < e for s, e in skip):
            continue  # "{name, role}" inside a written key list is that list's nesting
        if re.search(r"\b(?:list|array)s?\s+of\s*(?:the\s+)?$|\[\s*$", text[max(0, start - 30) : start], re.IGNORECASE):
            return _DOUBT  # "a list of {name, role} objects": the answer is a list, not an object
        obj = extract_object(block)
        loose = obj is None
        if obj is None:
            obj = _loose_object(block)
        if not obj:
            continue
        placeholders = _all_placeholders(obj) and not loose  # a loose {name, role} does not ask for JSON by itself
        if loose and not json_asked:
            continue
        if not placeholders and not loose:
            if placeholders_only:
                continue
            rest = text[:start] + text[end:]
            if (
                not json_asked
                or _OTHER_FORMATS.search(rest)
                or any(isinstance(v, str) and v.strip() and v.casefold() in rest.casefold() for v in _leaves(obj))
            ):
                continue  # example values that are also in the prompt: the record, not a template
        shape = {k: _shape_of(v) for k, v in obj.items() if isinstance(v, (dict, list)) and _shape_of(v) is not None}
        return KeyList(tuple(obj), ((start, end),), shape, skeleton=placeholders)
    return KeyList()


def _csv_header(text: str) -> KeyList:
    """The header row of a CSV or tab-separated block ("header names as keys"): a line of identifiers
    followed by a line with as many fields (quoted fields may hold the delimiter)."""
    lines = text.splitlines(keepends=True)
    offset = 0
    for i, line in enumerate(lines[:-1]):
        for delimiter in ("\t", ",", ";", "|"):
            names = [c.strip() for c in line.strip().split(delimiter)]
            if len(names) < 2 or not all(_IDENT.fullmatch(n) for n in names):
                continue
            try:
                row = next(csv.reader([lines[i + 1].strip()], delimiter=delimiter))
            except csv.Error:
                continue
            if len(row) == len(names):
                return KeyList(tuple(dict.fromkeys(names)), ((offset, offset + len(line)),))
        offset += len(line)
    return KeyList()


def _run_near_json(text: str) -> KeyList:
    """A run of identifiers in the sentence that asks for JSON, or in the instruction before it."""
    sentences = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
    for i, (start, end) in enumerate(sentences):
        if not _JSON.search(text, start, end):
            continue
        # In the sentence that asks for JSON two items need only a comma ("Extract city, email as
        # JSON"); in the instruction before it they need an "and" (or a third item).
        places = [(start, end, True)]
        if i > 0 and not re.search(r"\d|@", text[sentences[i - 1][0] : sentences[i - 1][1]]):
            places.append((*sentences[i - 1], False))
        # The run may sit in the sentence, or in a parenthesis of it ("into JSON (sender, subject)").
        places += [(start + m.start(1), start + m.end(1), True) for m in _PAREN.finditer(text[start:end])]
        for a, b, loose in places:
            # A list does not run across ";" or ": " ("keys: project, lead, members; members as ..."),
            # but "HH:MM" is one word.
            clauses = [(a + m.start(), a + m.end()) for m in re.finditer(r"(?:[^;:]|:(?!\s))+", text[a:b])]
            runs = [_identifier_run(text[c:d], c, loose=loose) for c, d in clauses]
            found = next((r for r in runs if r.doubtful), None) or max(
                runs, key=lambda r: len(r.keys), default=KeyList()
            )
            if found:
                return found
    return KeyList()


def _blocks(text: str) -> list[tuple[int, int, str]]:
    """Candidate ``{...}`` blocks: fenced blocks first, then balanced braces in the text."""
    out = [(m.start(), m.end(), m.group(1)) for m in _SKELETON.finditer(text) if m.group(1).lstrip().startswith("{")]
    depth, begin = 0, -1
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                if re.search(r"\\[A-Za-z]+\s*$|\}\s*$|[$^_]\s*$", text[max(0, i - 24) : i]):
                    continue  # LaTeX: \frac{x}{3}, x^{2}
                begin = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0 and not any(s <= begin < e for s, e, _ in out):
                out.append((begin, i + 1, text[begin : i + 1]))
    return out


_QUOTED_MEMBER = re.compile(r'"([A-Za-z_][\w-]*)"\s*:\s*\S.*', re.DOTALL)


def _loose_object(block: str) -> dict[str, Any] | None:
    """``{name, email}``, ``{name: string, age: number}`` or ``{"rating": integer 1-5, "sentiment":
    "positive" | "negative"}``: keys with types, not JSON.

    One bare name in braces is a template slot or LaTeX (``x = {x}``, ``\\frac{x}{3}``), not a key list.
    """
    inner = block.strip()
    if not (inner.startswith("{") and inner.endswith("}")) or "{" in inner[1:-1]:
        return None
    parts = [p.strip() for p in _TOP_LEVEL_COMMA.split(inner[1:-1]) if p.strip()]
    if len(parts) < 2 and ":" not in inner:
        return None
    quoted = [_QUOTED_MEMBER.fullmatch(part) for part in parts]
    if len(parts) >= 2 and all(quoted):
        # JSON with placeholders that are not JSON: "acknowledged": true/false, "severity": P1|P2
        return {m.group(1): None for m in quoted if m is not None}
    keys = []
    for part in parts:
        name, _, kind = part.partition(":")
        name = name.strip().strip("\"'`")
        if not _IDENT.fullmatch(name) or (kind.strip() and not _type_expression(kind.strip())):
            return None
        keys.append(name)
    return {k: None for k in keys} if keys else None


def _type_expression(text: str) -> bool:
    """A type written in place of a value: ``string``, ``integer 1-5``, ``"a" | "b"``, ``string[]``."""
    first = re.split(r"[\s|\[(<]", text.strip("\"'`").lower(), maxsplit=1)[0]
    if first in _PLACEHOLDER_VALUES:
        return True
    options = [o.strip() for o in text.split("|")]
    return len(options) > 1 and all(re.fullmatch(r"\"[^\"]*\"|'[^']*'|\w+", o) for o in options)


def _all_placeholders(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_all_placeholders(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_placeholders(v) for v in value)
    if value is None or value == "" or value == 0 or value is False:
        return True
    if isinstance(value, str):
        s = value.strip().lower()
        return s in _PLACEHOLDER_VALUES or (s.startswith("<") and s.endswith(">")) or set(s) <= set(".…_-? ")
    return False


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _shape_of(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape_of(v) for k, v in value.items()}
    if isinstance(value, list):
        inner = [_shape_of(v) for v in value if isinstance(v, (dict, list))]
        return [inner[0]] if inner else None
    return None


def shape_schema(shape: Any) -> dict[str, Any]:
    """The JSON Schema a nested shape asks for (checked, never sent upstream)."""
    if isinstance(shape, dict):
        return {
            "type": "object",
            "required": list(shape),
            "properties": {k: shape_schema(v) for k, v in shape.items() if v is not None},
        }
    if isinstance(shape, list) and shape:
        return {"type": "array", "items": shape_schema(shape[0])}
    return {}


def shape_hash_input(shape: dict[str, Any]) -> str:
    return json.dumps(shape, sort_keys=True, separators=(",", ":"))


def _identifier_run(sentence: str, offset: int, *, loose: bool = False) -> KeyList:
    """The longest run of lower-case identifiers joined by commas / "and" in one sentence.

    The first item may follow other words ("Extract *name*, age"), the last may be followed by prose
    ("and *phone* as JSON"); the ones between are lone identifiers. Two items need an "and"/"or"
    unless ``loose`` (the sentence that asks for JSON). A run that goes on into a multi-word item
    ("name, role and start date") is in doubt.
    """
    notes = [(m.start(), m.group(1)) for m in _PAREN.finditer(sentence)]
    notes += [(m.start(), m.group(0)) for m in _FORMAT_NOTE.finditer(sentence)]
    masked = re.sub(r"\{[^{}]*\}?", lambda m: " " * len(m.group(0)), sentence)  # a template is not prose
    masked = _PAREN.sub(lambda m: " " * len(m.group(0)), masked)
    masked = _FORMAT_NOTE.sub(lambda m: " " * len(m.group(0)), masked)
    separators = list(_SEPARATORS.finditer(masked))
    bounds = [0, *(x for m in separators for x in (m.start(), m.end())), len(masked)]
    seps = [m.group(0).strip().lower() for m in separators]
    chunks = [(a, b, _WORDS.findall(masked[a:b])) for a, b in zip(bounds[::2], bounds[1::2])]
    best: list[tuple[int, str]] = []
    for i, (a, _, words) in enumerate(chunks):
        if not words or not _LOWER_IDENT.fullmatch(words[-1]) or words[-1] in _GRAMMAR:
            continue
        run = [(a + masked[a:].find(words[-1]), words[-1])]
        j = i + 1
        while j < len(chunks):
            start, _, words = chunks[j]
            if words and len(words) == 1 and words[0].lower() in _LONE_FILLERS:
                break
            if not words or not _LOWER_IDENT.fullmatch(words[0]) or words[0] in _GRAMMAR:
                break
            if len(words) > 1 and words[1].lower() not in _GRAMMAR:
                if len(run) >= 2:
                    return _DOUBT
                break
            if len(words) > 1 and _refers_back(words[0], [k for _, k in run]):
                break  # "..., to_account, accounts as last-4 strings": a note on keys already listed
            run.append((start + masked[start:].find(words[0]), words[0]))
            j += 1
            if len(words) > 1:
                break  # "phone as JSON": the list ran into prose
        joined = set(seps[i : i + len(run) - 1])
        if len(run) >= 2 and (loose or joined & {"and", "or", "&"} or len(run) >= 3) and len(run) > len(best):
            best = run
    if not best:
        return KeyList()
    end = best[-1][0] + len(best[-1][1])
    return KeyList(
        tuple(dict.fromkeys(k for _, k in best)),
        ((offset + best[0][0], offset + end),),
        hints=_hints(best, notes, len(sentence)),
    )
