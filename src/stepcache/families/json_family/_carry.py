"""What a cached JSON answer carries over to a look-alike request, judged by content.

The request is read as a *record* (the values the answer draws from) and an *instruction* (what to
return); see ``_record.py``. Then:

* **The same record under reworded instructions is a reuse.** Instruction words may change freely,
  unless one changes the meaning: a negation ("not", "without"), a selection or computation ("oldest",
  "total", "second"), a value transformation ("in uppercase", "in cents"), or a word the record itself
  uses ("the *customer*'s email" when the record has a customer and a seller). A reworded instruction
  also drops what the model invented (not in the record) and declines when a carried value has a rival
  in the record that nothing ties it to: the new wording may pick the other one.
* **A changed record** is followed through the word diff (``_adapt.py``): mapped values are kept;
  a change no mapped value accounts for means the entry is not reused (``None``, the skip path).
* **Keys**: a cached value moves to a new key only when the names mean the same (``_keys.py``) or the
  new text labels the value with the new key ("maker: Acme"). A replaced key (``city`` → ``email``)
  carries nothing: verification reports it missing and the patch asks the model for it alone.

What cannot be shown right is dropped, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from ._adapt import COPIED, INVENTED, MAPPED, WORDING, PromptDiff
from ._ground import GROUNDED, Grounder
from ._keys import BOOLEAN, KeyNames
from ._patterns import KIND_DATE, KIND_DATETIME, KIND_TIME, value_kind
from ._spec import JsonSpec
from ._text import field_labels

__all__ = ["Declined", "adapt_object", "derived", "MIN_SHARED"]

#: Below this share of common (value-masked) record words the prompts are about different things.
MIN_SHARED = 0.3

# Prompts whose answer is *selected or computed* from the values, not copied from them.
_DERIVED = re.compile(
    r"\b(?:older|younger|oldest|youngest|larger|largest|smaller|smallest|bigger|biggest|highest|lowest"
    r"|greater|greatest|longer|longest|shorter|shortest|cheaper|cheapest|faster|fastest|earliest|latest"
    r"|(?<!at\s)most|fewer|fewest|(?<!at\s)least|best|worst|maximum|minimum|sum|total|average|median"
    r"|difference|calculate|compute|count|how\s+many|how\s+much|whichever|compare|compared|rank|ranked"
    r"|which\s+(?:one|of|person|people|item|items|is\s+the|are\s+the)"
    r"|sort|sorted|minus|divided|multiplied|percent|percentage|ratio)\b",
    re.IGNORECASE,
)
# Instruction words that change what is returned rather than how the request is phrased: negation,
# selection by position, and transformations of the values. (A class of meaning, not a phrasing.)
_NEGATION = frozenset(
    {"no", "not", "never", "without", "except", "excluding", "exclude", "none", "neither", "nor", "t"}
)
_SELECTION = frozenset(
    {
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "last",
        "next",
        "previous",
        "other",
        "another",
        "former",
        "latter",
        "primary",
        "secondary",
    }
)
_TRANSFORM = frozenset(
    {
        "capital",
        "capitalised",
        "capitalized",
        "capitalise",
        "capitalize",
        "abbreviated",
        "abbreviate",
        "abbreviation",
        "initials",
        "translate",
        "translated",
        "translation",
        "round",
        "rounded",
        "rounding",
        "truncate",
        "truncated",
        "cents",
        "pence",
        "thousands",
        "millions",
        "kilograms",
        "grams",
        "pounds",
        "ounces",
        "celsius",
        "fahrenheit",
        "miles",
        "kilometres",
        "kilometers",
        "metres",
        "meters",
        "seconds",
        "minutes",
        "hours",
        "days",
        "weeks",
        "months",
        "years",
        "unix",
        "epoch",
        "utc",
        "timezone",
        "english",
        "french",
        "spanish",
        "german",
        "italian",
        "portuguese",
        "chinese",
        "japanese",
        "plural",
        "singular",
        "reverse",
        "reversed",
        "masked",
        "redact",
        "redacted",
        "anonymise",
        "anonymize",
        "hash",
        "hashed",
        "encoded",
        "decoded",
    }
)


# The names of JSON types say how a value is written, never which value it is.
_TYPE_WORDS = frozenset(
    {
        "integer",
        "int",
        "number",
        "numeric",
        "float",
        "decimal",
        "string",
        "text",
        "boolean",
        "bool",
        "true",
        "false",
        "null",
        "list",
        "array",
        "arrays",
        "lists",
        "type",
        "types",
        "typed",
    }
)
# Format words with a check on the values: "dates as YYYY-MM-DD", "ISO", "24-hour HH:MM", "in uppercase".
_DATE_FORMAT = frozenset({"iso", "yyyy", "yy", "dd", "date", "dates"})
_TIME_FORMAT = frozenset({"hh", "mm", "ss", "24h", "24", "hour", "time", "times", "clock"})
_CASE_FORMAT = {
    "uppercase": str.isupper,
    "upper": str.isupper,
    "capitals": str.isupper,
    "lowercase": str.islower,
    "lower": str.islower,
}
_FORMAT_WORDS = _DATE_FORMAT | _TIME_FORMAT | frozenset(_CASE_FORMAT)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?")
_CLOCK = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?")


def _formatted(word: str, cached: Mapping[str, Any]) -> bool:
    """Every value of ``cached`` that ``word`` is about is already written the way it asks."""
    strings = [v for v in _leaves(cached) if isinstance(v, str) and v.strip()]
    if word in _CASE_FORMAT:
        test = _CASE_FORMAT[word]
        return all(test(v) for v in strings if any(c.isalpha() for c in v))
    if word in _DATE_FORMAT:
        return all(_ISO_DATE.fullmatch(v.strip()) for v in strings if value_kind(v) in (KIND_DATE, KIND_DATETIME))
    return all(_CLOCK.fullmatch(v.strip()) for v in strings if value_kind(v) == KIND_TIME)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def derived(spec: JsonSpec, stated: Iterable[str] = ()) -> bool:
    """The prompt asks for something selected or computed from its values.

    A key whose value the prompt states (``total: 54.99``, "Total charged: $87.40", or ``stated``:
    keys whose value grounding found worded with the key, "Total 10.63 USD") is copied, not computed,
    so its name is not evidence; a key only named in the list (``oldest_name``) is read word by word.
    """
    stated = frozenset(stated)
    memo = spec.memo(("derived", stated))
    if isinstance(memo, bool):
        return memo
    text = spec.text
    if spec.document:
        # A document's own words ("TOTAL", "latest update") describe the document, not the request:
        # only what asks (the system prompt, the sentences naming the output or its keys) can compute.
        asking = [(0, 0), *spec.record, (len(text), len(text))]
        text = " ".join(text[a_end:b_start] for (_, a_end), (b_start, _) in zip(asking, asking[1:]))
    labels = field_labels(spec.record_text)
    for key in spec.known_keys:
        # In a document request every key is read from the document by its own program, or asked of
        # the model: a key's name ("items_count", "total") asks for nothing computed across it.
        said = (
            spec.document
            or key in stated
            or re.search(rf"(?<![\w-]){re.escape(key)}\s*[:=]", text, re.IGNORECASE)
            or any(_NAMES.same(label, key) for label in labels)
        )
        if said:
            for spelling in {key, key.replace("_", " ")}:
                text = re.sub(rf"(?<![\w-]){re.escape(spelling)}(?![\w-])", " ", text, flags=re.IGNORECASE)
    return bool(spec.remember(("derived", stated), _DERIVED.search(text.replace("_", " ")) is not None))


_NAMES = KeyNames()  # immutable; built-in aliases only (the family's own are for its keys)


def _key_words(keys: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for key in keys:
        out.add(key.lower())
        out.update(w.lower() for w in re.findall(r"[A-Za-z]+|\d+", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", key)))
    return out


def _renames(old: JsonSpec, new: JsonSpec, diff: PromptDiff, cached_keys: Iterable[str]) -> dict[str, str]:
    """Proposed cached key → new key, from the key lists (schema or prompt) and from the prompt diff.

    A proposal is only a slot; whether the value may move is decided by meaning (``adapt_object``).
    """
    new_known = set(new.known_keys)
    cached = list(cached_keys)
    proposals: dict[str, str] = {}
    matcher = SequenceMatcher(None, list(old.known_keys), list(new.known_keys), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:
            proposals.update(zip(old.known_keys[i1:i2], new.known_keys[j1:j2]))
    by_lower = {k.lower(): k for k in new.known_keys}
    for key in cached:
        image = diff.words.get(key.lower())
        if key not in proposals and image is not None and image.lower() in by_lower:
            proposals[key] = by_lower[image.lower()]
    renames: dict[str, str] = {}
    for key, target in proposals.items():
        if key in cached and key not in new_known and target not in cached and target not in renames.values():
            renames[key] = target
    return renames


def _meaning_change(words: set[str], record_words: set[str], cached: Mapping[str, Any]) -> str | None:
    """The instruction word among ``words`` that changes what is asked, if any.

    A format word the cached values already satisfy ("ISO", "YYYY", "24h" where every date and time
    is already written so) asks for nothing new.
    """
    for word in sorted(words):
        if word in WORDING:
            continue
        if word in _FORMAT_WORDS and _formatted(word, cached):
            continue
        if (
            word in _NEGATION
            or word in _SELECTION
            or word in _TRANSFORM
            or word in _FORMAT_WORDS
            or _DERIVED.fullmatch(word)
        ):
            return word
        if word in record_words and not word.isdigit():
            return word  # names something in the record: it may select a different part of it
    return None


@dataclass(frozen=True, slots=True)
class Declined:
    """Why nothing is carried. ``final``: the instruction asks for something else (a negation, a
    selection, a computed value), so nothing of the entry may be reused; otherwise only the word diff
    cannot follow the change, and extraction programs may still read the new record."""

    reason: str
    final: bool = False


def adapt_object(
    cached: Mapping[str, Any], old: JsonSpec, new: JsonSpec, names: KeyNames, grounders: tuple[Grounder, Grounder]
) -> dict[str, Any] | Declined:
    """The cached object re-written for ``new``, or why reusing it would be meaningless.

    Keys that cannot be carried over are left out (verification then reports them missing).
    ``grounders`` read ``old``'s and ``new``'s record texts.
    """
    before, grounder = grounders
    keys = _key_words(old.known_keys) | _key_words(new.known_keys) | _key_words(cached)
    added = {k.lower() for k in new.known_keys} - {k.lower() for k in (*old.known_keys, *cached)}
    new_record = new.record
    diff = PromptDiff(
        old.text, new.text, key_names=keys, added_keys=added, old_record=old.record, new_record=new_record
    )
    if diff.shared < MIN_SHARED:
        return Declined("the requests share little once their values are masked")
    changed = _meaning_change(diff.instruction_words, diff.record_words, cached)
    if changed is not None:
        return Declined(f"the instruction's word {changed!r} changes what is asked", final=True)
    reworded = bool(diff.instruction_words - WORDING - _TYPE_WORDS)
    if diff.content_changed or reworded:
        stated = [k for k, v in cached.items() if before.check(k, v, old.property_schema(k), cached).held]
        if derived(old, stated) or derived(new, stated):
            return Declined("the request selects or computes its values from the record, which changed", final=True)
    proposals = _renames(old, new, diff, cached)
    restrict = bool(new.known_keys)
    # Every cached key is adapted, even one the new task no longer names: its values still account
    # for the prompt changes they were copied from.
    adapted = {proposals.get(key, key): diff.adapt_value(value) for key, value in cached.items()}
    used = {k for _, leaves in adapted.values() for leaf in leaves if leaf.status == MAPPED for k in leaf.used}
    unexplained = diff.unexplained(used)
    if unexplained and not new.document:
        return Declined("the record changed where no carried value accounts for it")
    # A value the model wrote that the record does not contain (invented, computed, or mistyped:
    # "Aaa" for "Ada", 1816 for 1815) is served from cache only for the same words: for any other
    # wording nothing can show it is right for the new request, so it is asked for again.
    same_words = not diff.content_changed and not diff.instruction_words
    keep = {MAPPED, COPIED, INVENTED} if same_words else {MAPPED, COPIED}
    out = {
        key: value
        for key, (value, leaves) in adapted.items()
        if (not restrict or key in new.known_keys)
        and all(
            leaf.status in keep or _normalised_copy(leaf.status, key, value, new, grounder, diff) for leaf in leaves
        )
    }
    if new.document and (unexplained or diff.content_changed):
        # In a document the word diff cannot see structure: a value still in the text may have moved to
        # another field, column or line (billing and shipping swapped). Only a value its own label gives
        # ("City: Seville") is carried; the rest is read by the entry's programs or asked.
        out = {
            key: value
            for key, value in out.items()
            if grounder.check(key, value, new.property_schema(key), out).labelled
        }
        if not out:
            return Declined("the record changed where no carried value accounts for it")
    # A value moves to a new key only when the names mean the same or the new text says so where the
    # value stands: it spells the new key ("page_count: 412"), or names it and not the old one ("maker:
    # Acme" for brand → maker; "From:" names sender_email and sender_name alike, so it says nothing).
    for old_key, new_key in proposals.items():
        if new_key in out and not names.renames(old_key, new_key):
            evidence = grounder.check(new_key, out[new_key], new.property_schema(new_key), out)
            exact = names.canonical(new_key)
            if not any(
                any(names.canonical(label) == exact for label in o.labels)
                or grounder.names_key(o, new_key)
                and not grounder.names_key(o, old_key)
                for o in evidence.occurrences
            ):
                del out[new_key]
    if reworded and any(_rivalled(grounder, key, value, new, out, new_record) for key, value in out.items()):
        return Declined("a carried value has a rival in the record that nothing ties to its key")
    return out if out else Declined("no value could be carried")


def _normalised_copy(status: str, key: str, value: Any, spec: JsonSpec, grounder: Grounder, diff: PromptDiff) -> bool:
    """A value the word diff calls invented that is a reading of the unchanged record, not of the
    reworded instruction: found in it spelled otherwise ("2024-03-14" for "Thursday 14 March 2024"),
    a yes/no the record answers for a boolean key ("out of stock" → ``false``), or ``null`` for a key
    whose kind the record visibly lacks (no email anywhere for ``email``)."""
    if status != INVENTED or diff.content_changed or isinstance(value, (dict, list)):
        return False
    schema = spec.property_schema(key)
    if value is None:
        return grounder.absent(key, schema)  # only where absence can be seen: no email in the text
    evidence = grounder.check(key, value, schema)
    if isinstance(value, bool):
        return grounder.names.kind(key, schema) == BOOLEAN and evidence.status == GROUNDED
    return evidence.status == GROUNDED


def _rivalled(
    grounder: Grounder,
    key: str,
    value: Any,
    spec: JsonSpec,
    answer: Mapping[str, Any],
    record: tuple[tuple[int, int], ...],
) -> bool:
    """``value`` has an unused rival in the record and nothing in the text ties it to ``key``."""
    if isinstance(value, (dict, list)) or value is None or isinstance(value, bool):
        return False
    if grounder.check(key, value, spec.property_schema(key), answer).held:
        return False
    return grounder.rival(value, answer, within=record) is not None
