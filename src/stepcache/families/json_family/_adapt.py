"""The word diff behind adapting a cached JSON answer to a look-alike prompt (beyond the paper).

What is carried over, and when the entry is not reused at all, is decided in ``_carry.py``; this
module reads the two prompts. The cached prompt and the new one are diffed word by word (``difflib``). Replaced spans give a
substitution map ("Alice" → "Bob", 34 → 28), which is applied to the cached values and key names.
What cannot be shown to be right is *dropped*, never guessed, so verification reports it missing and
the patch asks the model for exactly those keys. Each leaf value is one of:

* *mapped*: copied from the cached prompt and re-written through the map, and the result is in the
  new prompt ("Paris" → "Rome"). Kept.
* *copied*: copied from the cached prompt, unchanged, and still in place in the new one (a
  neighbouring word survived, so "Alice met Carol" → "Carol met Alice" does not count). Kept.
* *invented*: not in the cached prompt (``"country": "France"`` from "Paris"). Kept only when the
  prompts carry the same content: they differ in instruction wording and key names alone.
* *lost*: copied, but its source changed in a way that cannot be followed. Dropped.

``true``/``false``/``null`` are read like words when the prompt spells them (``capital: true``), so
an unchanged one is *copied* and a changed one *mapped*; a word mapped onto a bare literal takes its
JSON type ("chef" → ``true``, not "true"). An inserted clause that names a key the cached answer lacks
(``; paid: true``) is that key's value, not a change to what the other values say.

*Content* is the words of each prompt's record (``_record.py``): a changed content word that no
mapped value accounts for is :meth:`PromptDiff.unexplained`. Words of the instruction that differ are
collected in ``instruction_words`` for ``_carry.py`` to judge.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

__all__ = ["PromptDiff", "NOT_LITERAL", "WORDING", "bare_literal", "literal_of", "MAPPED", "COPIED", "INVENTED", "LOST"]

_NUM = r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?!\w)(?!\.\d)"
_TOKEN = re.compile(rf"{_NUM}|\w+|[^\w\s]")
_NUM_ONLY = re.compile(rf"^{_NUM}$")

# Instruction wording known to carry no content: a prompt that changes only these keeps even the
# values the model invented. Other instruction changes are judged by content (``_carry.py``), so this
# list is a fast path, not the definition of a paraphrase; do not grow it to admit one phrasing.
# Deliberately excludes negations and comparatives ("no", "not", "above", "more").
WORDING = _WORDING = frozenset(
    """
    a an the and or of for in on as to into from about with by using containing contains that this
    these those which has have it its is are be was were am me us you your i we my our please kindly
    just only exactly strictly valid following given here must should shall will would can could need
    want like return returns give provide produce output generate respond reply write create format
    emit extract make build send fill answer print show describe describing summarise summarize
    json object objects dict dictionary response result results data record entry info information
    details keys key fields field properties property values value required schema text input passage
    convert converts converting turn turns represent represents representing representation encode
    serialise serialize below above
    """.split()
)
# How a cached leaf value relates to the two prompts, which decides whether it is kept.
MAPPED = "mapped"  # copied from the old prompt and re-written through the substitution map
COPIED = "copied"  # copied from the old prompt, unchanged and still in place in the new one
INVENTED = "invented"  # written by the model (not in the prompt): only valid for the same content
LOST = "lost"  # copied, but its source changed in a way that cannot be followed


@dataclass(frozen=True, slots=True)
class _Leaf:
    status: str
    used: frozenset[str] = frozenset()  # substitution-map entries that produced the new value


@dataclass(frozen=True, slots=True)
class _Tok:
    text: str
    start: int
    end: int
    kind: str  # "num" | "word" | "punct"

    @property
    def norm(self) -> str:
        if self.kind == "num":
            return _num_key(self.text)
        return self.text.lower()


def _num_key(text: str) -> str:
    return repr(float(text.replace(",", "")))


def _tokens(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        t = m.group(0)
        kind = "num" if _NUM_ONLY.match(t) else "word" if t[0].isalnum() or t[0] == "_" else "punct"
        out.append(_Tok(t, m.start(), m.end(), kind))
    return out


def _norm_phrase(text: str) -> str:
    return " ".join(text.lower().split())


def _phrase_regex(phrase: str) -> str:
    words = [re.escape(w) for w in phrase.split()]
    body = r"\s+".join(words)
    left = r"(?<!\w)" if phrase[:1].isalnum() or phrase[:1] == "_" else ""
    right = r"(?!\w)" if phrase[-1:].isalnum() or phrase[-1:] == "_" else ""
    return left + body + right


NOT_LITERAL: Any = object()
_LITERAL = re.compile(r"true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?")


def literal_of(text: str) -> Any:
    """The JSON value ``text`` spells as a bare literal (``true``, ``null``, ``-2.5``), else a sentinel."""
    stripped = text.strip()
    return json.loads(stripped) if _LITERAL.fullmatch(stripped) else NOT_LITERAL


def bare_literal(text: str, prompt: str) -> Any:
    """The JSON value of ``text`` when ``prompt`` writes it as a bare literal, else a sentinel.

    The rule for values without a declared type: ``paid: false`` in the prompt is the boolean
    ``false`` (likewise ``true``, ``null`` and numbers); ``paid: "false"`` — quoted — is a string.
    """
    value = literal_of(text)
    if value is NOT_LITERAL:
        return value
    needle = re.escape(text.strip())
    if re.search(rf"(?<![\w\"'.\-]){needle}(?![\w\"']|\.\d)", prompt) is None:
        return NOT_LITERAL
    return value


def grounded(value: str, text: str) -> bool:
    """``value`` appears in ``text`` as whole words (case and spacing aside)."""
    phrase = _norm_phrase(value)
    return bool(phrase) and re.search(_phrase_regex(phrase), text, re.IGNORECASE) is not None


@dataclass
class PromptDiff:
    """The word-level difference between a cached prompt and a new one."""

    old: str
    new: str
    key_names: set[str] = field(default_factory=set)
    #: Keys (lower case) the new task asks for and the cached answer lacks: an inserted clause that
    #: names one ("; paid: true") is that key's value, not a change to what the cached values say.
    added_keys: set[str] = field(default_factory=set)
    #: Character ranges of each prompt that hold its record (``_record.py``); ``None``: all of it.
    #: Only record words are content; a change in the rest is reported in ``instruction_words``.
    old_record: tuple[tuple[int, int], ...] | None = None
    new_record: tuple[tuple[int, int], ...] | None = None
    words: dict[str, str] = field(default_factory=dict)  # normalised old phrase → new text
    numbers: dict[str, str] = field(default_factory=dict)  # number key → new number text
    ambiguous_words: set[str] = field(default_factory=set)  # old phrases with no single image
    ambiguous_numbers: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        a, b = _tokens(self.old), _tokens(self.new)
        self._old_numbers = {t.norm for t in a if t.kind == "num"}
        self._old_words = {t.norm for t in a if t.kind == "word"}
        images: dict[str, set[str]] = {}
        numbers: dict[str, set[str]] = {}
        stays: set[str] = set()
        excused: Counter[str] = Counter()
        for tag, i1, i2, j1, j2 in _opcodes([t.norm for t in a], [t.norm for t in b]):
            if tag == "equal":
                stays.update(t.norm for t in a[i1:i2] if t.kind != "punct")
            elif tag == "insert" and any(t.norm in self.added_keys for t in b[j1:j2]):
                excused += _content(b[j1:j2], self.key_names)
            elif tag == "replace":
                for old, new in self._pairs(a[i1:i2], b[j1:j2]):
                    if old.kind == "num":
                        numbers.setdefault(old.norm, set()).add(new.text)
                    else:
                        images.setdefault(old.norm, set()).add(new.text)
        for phrases, target, ambiguous in (
            (images, self.words, self.ambiguous_words),
            (numbers, self.numbers, self.ambiguous_numbers),
        ):
            for old_key, news in phrases.items():
                # An old word that became two different words, or that also stayed as it was
                # elsewhere, has no single image: values holding it are dropped, not guessed.
                if len({_norm_phrase(n) for n in news}) == 1 and old_key not in stays:
                    target[old_key] = next(iter(news))
                else:
                    ambiguous.add(old_key)
        self._old_norms = ["^"] + [t.norm for t in a] + ["$"]
        self._new_norms = ["^"] + [t.norm for t in b] + ["$"]
        self._pattern = self._substitution_pattern()
        in_a, in_b = _inside(a, self.old_record), _inside(b, self.new_record)
        ra, rb = [t for t, r in zip(a, in_a) if r], [t for t, r in zip(b, in_b) if r]
        old_content, new_content = _content(ra, self.key_names), _content(rb, self.key_names)
        self._old_only, self._new_only = old_content - new_content, new_content - old_content - excused
        self.content_changed = old_content != new_content
        # Instruction words that differ (key names aside): wording, unless they change the meaning.
        ia, ib = (
            Counter(
                t.norm for t, r in zip(tokens, inside) if not r and t.kind != "punct" and t.norm not in self.key_names
            )
            for tokens, inside in ((a, in_a), (b, in_b))
        )
        self.instruction_words = set((ia - ib) + (ib - ia))
        self.record_words = {t.norm for t in ra + rb if t.kind == "word"}
        # Both prompts have a record: how alike they are is a question about the records' content
        # alone (instruction words and key names that fall inside a record sentence aside).
        content_a, content_b = self._content_tokens(ra), self._content_tokens(rb)
        self.shared = _shared(content_a, content_b) if content_a and content_b else _shared(a, b)

    def _content_tokens(self, tokens: list[_Tok]) -> list[_Tok]:
        skipped = _WORDING | self.key_names
        return [t for t in tokens if t.kind == "num" or t.kind == "word" and t.norm not in skipped]

    # -- pairing replaced spans ------------------------------------------------------------------
    def _pairs(self, olds: list[_Tok], news: list[_Tok]) -> Iterable[tuple[_Tok, _Tok]]:
        """Old/new pairs of one replaced span: word by word when the shapes agree, else per phrase."""
        if len(olds) == len(news) and all(o.kind == n.kind for o, n in zip(olds, news)):
            pairs = [(o, n) for o, n in zip(olds, news) if o.kind != "punct"]
            if len(pairs) > 1 and olds[0].kind == olds[-1].kind == "word":
                pairs.append(self._phrase(olds, news))
            return pairs
        old_parts, new_parts = _split_on_punct(olds), _split_on_punct(news)
        if len(old_parts) != len(new_parts):
            return []
        pairs = []
        for o, n in zip(old_parts, new_parts):
            if len(o) == len(n) and all(x.kind == y.kind for x, y in zip(o, n)):
                pairs.extend(zip(o, n))
            elif all(t.kind == "word" for t in o + n):
                pairs.append(self._phrase(o, n))  # "New York" → "Rome"
        return pairs

    def _phrase(self, olds: list[_Tok], news: list[_Tok]) -> tuple[_Tok, _Tok]:
        old_text = self.old[olds[0].start : olds[-1].end]
        new_text = self.new[news[0].start : news[-1].end]
        return (
            _Tok(_norm_phrase(old_text), olds[0].start, olds[-1].end, "word"),
            _Tok(new_text, news[0].start, news[-1].end, "word"),
        )

    # -- applying ----------------------------------------------------------------------------------
    def _substitution_pattern(self) -> re.Pattern[str]:
        phrases = sorted(set(self.words) | self.ambiguous_words, key=len, reverse=True)
        alternatives = [_phrase_regex(p) for p in phrases] + [_NUM]
        return re.compile("|".join(f"(?:{alt})" for alt in alternatives), re.IGNORECASE)

    def substitute(self, value: str) -> tuple[str | None, set[str]]:
        """``value`` with every mapped word or number replaced, and the map entries used.

        ``None`` when ``value`` holds a word or number with no single image.
        """
        norm = _norm_phrase(value)
        exact = self.words.get(norm)
        if exact is not None:
            return exact, {norm}
        failed = False
        used: set[str] = set()

        def replace(m: re.Match[str]) -> str:
            nonlocal failed
            found = m.group(0)
            if _NUM_ONLY.match(found):
                key, table, ambiguous = _num_key(found), self.numbers, self.ambiguous_numbers
            else:
                key, table, ambiguous = _norm_phrase(found), self.words, self.ambiguous_words
            failed = failed or key in ambiguous
            if key in table:
                used.add(key)
                return table[key]
            return found

        out = self._pattern.sub(replace, value)
        return (None if failed else out), used

    def anchored(self, value: str) -> bool:
        """An occurrence of ``value`` in the old prompt kept a neighbouring word in the new one.

        "Alice met Carol" → "Carol met Alice" keeps every word, yet neither name kept its role; a
        value copied unchanged is trusted only where its context survived (moves are fine).
        """
        needle = [t.norm for t in _tokens(value)]
        if not needle:
            return False
        old, new, n = self._old_norms, self._new_norms, len(needle)
        for i in range(1, len(old) - n):
            if old[i : i + n] == needle and (
                _contains_run(new, old[i - 1 : i + n]) or _contains_run(new, old[i : i + n + 1])
            ):
                return True
        return False

    def adapt_leaf(self, value: Any) -> tuple[Any, _Leaf]:
        """The value for the new prompt and how it relates to the two prompts."""
        if isinstance(value, bool) or value is None:
            return self._adapt_constant(value)
        if isinstance(value, (int, float)):
            key = repr(float(value))
            if key not in self._old_numbers:
                return value, _Leaf(INVENTED)
            if key in self.ambiguous_numbers:
                return value, _Leaf(LOST)
            new_text = self.numbers.get(key)
            if new_text is None:
                return value, _Leaf(COPIED if self.anchored(_plain_number(value)) else LOST)
            number = float(new_text.replace(",", ""))
            adapted: int | float = int(number) if isinstance(value, int) and number.is_integer() else number
            return adapted, _Leaf(MAPPED, frozenset({key}))
        if isinstance(value, str):
            if not value.strip() or not grounded(value, self.old):
                return value, _Leaf(INVENTED)
            new_value, used = self.substitute(value)
            if new_value is None:
                return value, _Leaf(LOST)
            if not used:
                return value, _Leaf(COPIED if self.anchored(value) else LOST)
            if not grounded(new_value, self.new):
                return value, _Leaf(LOST)
            if literal_of(value) is NOT_LITERAL:  # "chef" → "true": the prompt's form decides the type
                typed = bare_literal(new_value, self.new)
                if typed is not NOT_LITERAL:
                    return typed, _Leaf(MAPPED, frozenset(used))
            return new_value, _Leaf(MAPPED, frozenset(used))
        return value, _Leaf(LOST)

    def _adapt_constant(self, value: bool | None) -> tuple[Any, _Leaf]:
        """``true``/``false``/``null``: copied or mapped like a word when the prompt spells it."""
        word = json.dumps(value)
        if word not in self._old_words:
            return value, _Leaf(INVENTED)  # "paid": true from "has paid": the model's reading
        if word in self.ambiguous_words:
            return value, _Leaf(LOST)
        image = self.words.get(word)
        if image is None:
            return value, _Leaf(COPIED if self.anchored(word) else LOST)
        typed = bare_literal(image, self.new)
        if typed is NOT_LITERAL or not (typed is None or isinstance(typed, bool)):
            return value, _Leaf(LOST)
        return typed, _Leaf(MAPPED, frozenset({word}))

    def adapt_value(self, value: Any) -> tuple[Any, list[_Leaf]]:
        """``value`` adapted leaf by leaf (lists and objects recursively), with every leaf's verdict."""
        if isinstance(value, list):
            pairs = [self.adapt_value(v) for v in value]
            return [v for v, _ in pairs], [leaf for _, leaves in pairs for leaf in leaves]
        if isinstance(value, dict):
            items = {k: self.adapt_value(v) for k, v in value.items()}
            return {k: v for k, (v, _) in items.items()}, [leaf for _, leaves in items.values() for leaf in leaves]
        adapted, leaf = self.adapt_leaf(value)
        return adapted, [leaf]

    def unexplained(self, used: set[str]) -> bool:
        """Content words changed that no substitution into the answer accounts for.

        "Alice, 34" → "Bob, 28" is explained by the name and age values; "I loved it" → "I hated it"
        is not, so a copied "positive" (from an options list) can no longer be trusted.
        """
        covered_old: set[str] = set()
        covered_new: set[str] = set()
        for key in used:
            image = self.words.get(key) or self.numbers.get(key) or ""
            covered_old.update(t.norm for t in _tokens(key))
            covered_new.update(t.norm for t in _tokens(image))
        return any(t not in covered_old for t in self._old_only) or any(t not in covered_new for t in self._new_only)


_DIRECT_DIFF = 250_000  # token pairs a plain word diff may compare; beyond, sentences are aligned first
_SENTENCE_END = frozenset(".!?;:")
Opcode = tuple[str, int, int, int, int]


def _opcodes(a: list[str], b: list[str]) -> Sequence[Opcode]:
    """``SequenceMatcher`` opcodes of two token lists, fast on long prompts.

    A word diff of two long, repetitive prompts is quadratic (seconds at a few thousand words), so
    long prompts are first aligned sentence by sentence and only replaced sentences are word-diffed.
    """
    if len(a) * len(b) <= _DIRECT_DIFF:
        return SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    sa, sb = _sentences(a), _sentences(b)
    if len(sa) * len(sb) > _DIRECT_DIFF or (len(sa) == 1 and len(sb) == 1):
        return SequenceMatcher(None, a, b, autojunk=True).get_opcodes()  # popular words are junk
    out: list[Opcode] = []
    # Sentences tile the token list, so sentence i spans tokens [bound[i], bound[i + 1]).
    bound_a = [s for s, _ in sa] + [len(a)]
    bound_b = [s for s, _ in sb] + [len(b)]
    keys_a = [tuple(a[s:e]) for s, e in sa]
    keys_b = [tuple(b[s:e]) for s, e in sb]
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, keys_a, keys_b, autojunk=False).get_opcodes():
        a1, a2, b1, b2 = bound_a[i1], bound_a[i2], bound_b[j1], bound_b[j2]
        if tag == "replace":
            out.extend((t, x1 + a1, x2 + a1, y1 + b1, y2 + b1) for t, x1, x2, y1, y2 in _opcodes(a[a1:a2], b[b1:b2]))
        else:
            out.append((tag, a1, a2, b1, b2))
    return out


def _sentences(tokens: list[str]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for i, t in enumerate(tokens):
        if t in _SENTENCE_END:
            spans.append((start, i + 1))
            start = i + 1
    if start < len(tokens):
        spans.append((start, len(tokens)))
    return spans


def _contains_run(haystack: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(haystack[i : i + n] == run for i in range(len(haystack) - n + 1))


def _plain_number(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _split_on_punct(tokens: list[_Tok]) -> list[list[_Tok]]:
    parts: list[list[_Tok]] = [[]]
    for t in tokens:
        if t.kind == "punct":
            if parts[-1]:
                parts.append([])
        else:
            parts[-1].append(t)
    return [p for p in parts if p]


def _inside(tokens: list[_Tok], ranges: tuple[tuple[int, int], ...] | None) -> list[bool]:
    if ranges is None:
        return [True] * len(tokens)
    return [any(s <= t.start < e for s, e in ranges) for t in tokens]


def _content(tokens: list[_Tok], key_names: set[str]) -> Counter[str]:
    return Counter(
        t.norm
        for t in tokens
        if t.kind == "num" or (t.kind == "word" and t.norm not in _WORDING and t.norm not in key_names)
    )


def _shared(a: list[_Tok], b: list[_Tok]) -> float:
    """Share of words the prompts have in common once numbers and capitalised names are masked."""

    def masked(tokens: list[_Tok]) -> Counter[str]:
        return Counter(
            "#" if t.kind == "num" else "X" if t.text[:1].isupper() else t.norm for t in tokens if t.kind != "punct"
        )

    ca, cb = masked(a), masked(b)
    longest = max(sum(ca.values()), sum(cb.values()))
    return 1.0 if longest == 0 else sum((ca & cb).values()) / longest
