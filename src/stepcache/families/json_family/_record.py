"""Record and instruction: which parts of a prompt hold the content an answer is drawn from.

A JSON request mixes two things: the *instruction* (what to return: "Give me the user as JSON with
keys name, email") and the *record* (what the values come from: "Name: Maria Lopez; email:
maria@example.com", "Alice is 34 and lives in Paris"). A paraphrase rewrites the first and keeps the
second; adaptation compares records as content and instructions only for words that change meaning.

The prompt is cut into pieces at line breaks, semicolons and sentence ends, and a piece's intro
("Extract the person from this:", "Text:") is cut from the data it introduces. A piece is *record*
when it holds a value — a number, an email, a quoted string, a capitalised name inside a sentence, a
"label: value" pair — or follows an intro colon. Key lists and pieces without values are
*instruction*. Nothing here depends on how the instruction is worded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._patterns import KIND_TEXT, value_kind

__all__ = ["Part", "parts", "record_ranges"]

_PIECE_END = re.compile(r"\n|;|(?<=[.!?])\s+(?=\S)")
_INTRO_COLON = re.compile(r":\s+")
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
# Evidence of a value: digits, an @, a quoted string, a "label: value" pair.
_VALUE = re.compile(r"\d|@|\"[^\"]+\"|“[^”]+”|(?<!\w)'[^']+'(?!\w)|`[^`]+`|^\s*[\w ./-]{1,30}:\s*\S")
_PROPER = re.compile(r"(?<=[\s,(])[A-Z][a-z][\w'’-]*")
# Codes and acronyms inside a sentence are values ("with UPS", "in EUR"), except the names of formats.
_CODE = re.compile(r"(?<=[\s,(])[A-Z]{2,5}\b")
_FORMAT_NAMES = frozenset({"JSON", "XML", "YAML", "CSV", "ISO", "UTC", "HTML", "API", "TOML", "ID", "IDS"})
_FORMAT_WORD = re.compile(r"\bjson\b", re.IGNORECASE)
# Format notation says how values look, it is not a value: "YYYY-MM-DD", "HH:MM", "24-hour",
# "a string of 4 digits", "2 decimal places".
_FORMAT_NOTATION = re.compile(
    r"\b(?:YYYY|YY|MM|DD|HH|hh|mm|ss|SS)(?:[-/.: T](?:YYYY|YY|MM|DD|HH|hh|mm|ss|SS))+\b"
    r"|\b(?:12|24)[- ]?h(?:ours?|r)?\b"
    r"|\b\d+\s+(?:digits?|characters?|chars|letters?|decimals?|decimal\s+places|places|significant\s+figures|words)\b",
)
_MIN_INTRO_WORDS = 3  # "Extract the person:" is an intro; "City:" is a label
_MIN_DATA_WORDS = 4  # "Text: Alice is 34 and ..." — a short label over a sentence is an intro


@dataclass(frozen=True, slots=True)
class Part:
    start: int
    end: int
    record: bool


def parts(text: str, key_spans: Sequence[tuple[int, int]] = (), keys: Sequence[str] = ()) -> list[Part]:
    """``text`` cut into record and instruction parts (they tile the text). ``keys``: the requested
    key names, which are not values wherever they occur (``card_last4`` holds a digit)."""
    out: list[Part] = []
    pos = 0
    if keys:
        spelled = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
        names = re.compile(rf"(?<![\w-])(?:{spelled})(?![\w-])")
        text = names.sub(lambda m: "k" * len(m.group(0)), text)  # same length: spans line up
    for m in [*_PIECE_END.finditer(text), None]:
        end = m.start() if m is not None else len(text)
        out.extend(_piece(text, pos, end, key_spans))
        if m is not None:
            out.append(Part(m.start(), m.end(), False))
            pos = m.end()
    return [p for p in out if p.end > p.start]


#: What a piece of a *document* request must say to be instruction rather than document: it names the
#: output (JSON, a schema, the keys, by name or by list) or a value format. (A document's greeting or
#: note holds no value and is still document: it changes from one document to the next without
#: changing what is asked; "Reply for ...", "Return to sender" are a document's words, not a request.)
_ASKS = re.compile(r"\b(?:json|keys|schema|yyyy|hh:mm)\b", re.IGNORECASE)


def record_ranges(
    text: str, key_spans: Sequence[tuple[int, int]] = (), keys: Sequence[str] = (), *, instruction_end: int = -1
) -> tuple[tuple[int, int], ...]:
    """The record parts of ``text``, with the key lists inside them cut out.

    ``instruction_end`` ≥ 0 reads ``text`` as a *document* request: what comes before it (the system
    prompt) is instruction, and after it every piece is document unless it names the output, its keys
    or its format.
    """
    out: list[tuple[int, int]] = []
    for p in parts(text, key_spans, keys):
        if instruction_end >= 0 and not p.record and p.start >= instruction_end:
            piece = text[p.start : p.end]
            # A document's own words name keys all the time ("Total: $12.40", "Your excess:"): only
            # a piece that asks for the output is instruction.
            if piece.strip() and not _ASKS.search(piece):
                p = Part(p.start, p.end, True)
        if not p.record or (instruction_end >= 0 and p.end <= instruction_end):
            continue
        pieces = [(p.start, p.end)]
        for ks, ke in key_spans:
            pieces = [piece for a, b in pieces for piece in ((a, min(b, ks)), (max(a, ke), b)) if piece[1] > piece[0]]
        out.extend(pieces)
    return tuple(out)


def _piece(text: str, start: int, end: int, key_spans: Sequence[tuple[int, int]]) -> list[Part]:
    piece = text[start:end]
    if not piece.strip():
        return [Part(start, end, False)]
    colon = _INTRO_COLON.search(piece)
    if colon is not None:
        head, tail = piece[: colon.start()], piece[colon.end() :]
        head_words, tail_words = len(_WORD.findall(head)), len(tail.split())
        # "Extract the person from this: ..." introduces data; so does a short label over a sentence
        # ("Note: Spoke with Hannah Berg about ..."), but not over one value ("Delivery: Wednesday,
        # 7 August 2024", "Team: Ben Ortiz, Chloe Wu").
        sentence = tail_words >= _MIN_DATA_WORDS and value_kind(tail.strip(" .\t")) == KIND_TEXT
        intro = head_words >= _MIN_INTRO_WORDS or (head_words and sentence and not _has_value(head))
        if intro and tail.strip() and not _in_spans(start + colon.end(), key_spans):
            cut = start + colon.end()
            return [Part(start, cut, False), *_piece_body(text, cut, end, key_spans, after_intro=True)]
    return _piece_body(text, start, end, key_spans, after_intro=False)


def _piece_body(
    text: str, start: int, end: int, key_spans: Sequence[tuple[int, int]], *, after_intro: bool
) -> list[Part]:
    body = text[start:end]
    covered = sum(max(0, min(end, e) - max(start, s)) for s, e in key_spans)
    if covered >= (end - start) * 0.5:
        return [Part(start, end, False)]  # a key list: instruction
    if after_intro and not (_FORMAT_WORD.search(body) and not _has_value(body)):
        return [Part(start, end, True)]
    return [Part(start, end, _has_value(body))]


def _has_value(text: str) -> bool:
    text = _FORMAT_NOTATION.sub(" ", text)
    if _VALUE.search(text) or _PROPER.search(text):
        return True
    return any(m.group(0) not in _FORMAT_NAMES for m in _CODE.finditer(text))


def _in_spans(at: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(s <= at < e for s, e in spans)
