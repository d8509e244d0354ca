"""From the characters people type to ASCII math, remembering where every character came from.

Prompts write equations with unicode signs (``−``, ``×``, ``÷``, ``½``, ``x²``), LaTeX (``$\\frac{x}{4}$``,
``\\cdot``), markdown (bold, backticks, bullets), answer-format placeholders (``x = <value>``,
``x = ?``, ``[answer]``), locale-specific numbers (``2,500``, ``0,5``), percentages (``15% of x``) and
fraction coefficients (``1/2x``). :func:`math_text` rewrites all of that into the ASCII that the
equation parser reads, as a :class:`MappedText`: every output character knows the span of the prompt
it was written from. That map is what lets :mod:`._read` check a parsed equation against the prompt's
own characters, so a rewrite that dropped or merged a number can never pass unnoticed.

Numbers are rewritten only when their reading is certain. A comma between digits is a thousands
separator or a decimal comma depending on the writer's locale: ``0,5`` and ``2,25`` can only be
decimal commas, ``1,000,000`` and ``2,500.75`` only thousands; ``2,500`` alone is decided by the other
numbers of the text, else by the language of the prompt (English writes thousands that way), else it
is left undecided and the prompt is declined.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["MappedText", "MathText", "Unreadable", "math_text", "CHAR_MAP", "SUPERSCRIPTS"]

#: One piece of a replacement: its text and the span of the *current* text it stands for.
Piece = tuple[str, int, int]


class MappedText:
    """A text and, for each character, the span ``[start, end)`` of the original it was written from."""

    __slots__ = ("text", "starts", "ends")

    def __init__(self, text: str, starts: list[int] | None = None, ends: list[int] | None = None) -> None:
        self.text = text
        self.starts = list(range(len(text))) if starts is None else starts
        self.ends = list(range(1, len(text) + 1)) if ends is None else ends

    def source(self, start: int, end: int) -> tuple[int, int]:
        """The original span that ``text[start:end]`` was written from."""
        if end <= start:
            at = self.starts[start] if start < len(self.starts) else (self.ends[-1] if self.ends else 0)
            return at, at
        return min(self.starts[start:end]), max(self.ends[start:end])

    def sub(self, pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str | Sequence[Piece]]) -> MappedText:
        """Replace every match; ``repl`` returns a string (all of it from the match) or pieces, each
        naming the part of the match it comes from (``\\frac{1}{2}`` → ``(``, ``1``, ``)/(``, ``2``, ``)``)."""
        text, starts, ends = self.text, self.starts, self.ends
        out: list[str] = []
        new_starts: list[int] = []
        new_ends: list[int] = []
        pos = 0
        for m in pattern.finditer(text):
            out.append(text[pos : m.start()])
            new_starts.extend(starts[pos : m.start()])
            new_ends.extend(ends[pos : m.start()])
            made = repl(m)
            pieces: Sequence[Piece] = [(made, m.start(), m.end())] if isinstance(made, str) else made
            for piece, a, b in pieces:
                out.append(piece)
                if b > a and piece == text[a:b]:  # copied through: every character keeps its own source
                    new_starts.extend(starts[a:b])
                    new_ends.extend(ends[a:b])
                    continue
                s, e = self.source(a, b)  # an empty span: a character the rewrite added
                new_starts.extend([s] * len(piece))
                new_ends.extend([e] * len(piece))
            pos = m.end()
        if pos == 0 and not out:
            return self
        out.append(text[pos:])
        new_starts.extend(starts[pos:])
        new_ends.extend(ends[pos:])
        return MappedText("".join(out), new_starts, new_ends)


class Unreadable(ValueError):
    """The text writes numbers in a way that cannot be read with certainty (e.g. ``2,500`` in a
    prompt that also writes ``0,5``)."""


# -- characters --------------------------------------------------------------------------------
SUPERSCRIPTS = {
    "\u00b2": "2",
    "\u00b3": "3",
    "\u00b9": "1",
    "\u2070": "0",
    "\u2074": "4",
    "\u2075": "5",
    "\u2076": "6",
    "\u2077": "7",
    "\u2078": "8",
    "\u2079": "9",
}
_VULGAR = {
    "\u00bd": (1, 2),
    "\u2153": (1, 3),
    "\u2154": (2, 3),
    "\u00bc": (1, 4),
    "\u00be": (3, 4),
    "\u2155": (1, 5),
    "\u2156": (2, 5),
    "\u2157": (3, 5),
    "\u2158": (4, 5),
    "\u2159": (1, 6),
    "\u215a": (5, 6),
    "\u215b": (1, 8),
    "\u215c": (3, 8),
    "\u215d": (5, 8),
    "\u215e": (7, 8),
}
#: Signs people and models type for the ASCII operators (shared with the step parser).
CHAR_MAP = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",  # en dash, often typed for minus
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\ufe63": "-",  # small hyphen-minus
    "\uff0d": "-",  # fullwidth hyphen-minus
    "\u00d7": "*",  # multiplication sign
    "\u00b7": "*",  # middle dot
    "\u22c5": "*",  # dot operator
    "\u2219": "*",  # bullet operator
    "\u2217": "*",  # asterisk operator
    "\u2715": "*",  # multiplication x
    "\u00f7": "/",  # division sign
    "\u2215": "/",  # division slash
    "\u2044": "/",  # fraction slash
    "\u2236": ":",  # ratio
    "\u00a0": " ",  # no-break space
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u200b": "",  # zero-width space
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
}
_SUPERSCRIPT = re.compile("([" + "".join(SUPERSCRIPTS) + "]+)")
_VULGAR_RE = re.compile(r"(\d*)\s?([" + "".join(_VULGAR) + "])")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _superscript(m: re.Match[str]) -> str:
    return "^" + "".join(SUPERSCRIPTS[c] for c in m.group(1))


def _vulgar(m: re.Match[str]) -> Sequence[Piece]:
    a, b = _VULGAR[m.group(2)]
    whole = m.group(1)
    frac_at = m.start(2)
    if whole:  # 2½ is two and a half
        return [
            ("(", m.start(), m.start()),
            (whole, m.start(1), m.end(1)),
            ("+", frac_at, frac_at + 1),
            (f"{a}/{b})", frac_at, frac_at + 1),
        ]
    return [(f"({a}/{b})", frac_at, frac_at + 1)]


def _char(m: re.Match[str]) -> str:
    c = m.group(0)
    if c in CHAR_MAP:
        return CHAR_MAP[c]
    folded = unicodedata.normalize("NFKC", c)  # fullwidth digits and letters, ligatures
    return folded if folded.isascii() else c


# -- LaTeX -------------------------------------------------------------------------------------
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_TEXT_CMD = re.compile(r"\\(?:text|mathrm|mathbf|mathit|textbf|textit|operatorname|mbox)\s*\{([^{}]*)\}")
_BOXED = re.compile(r"\\boxed\s*\{[^{}]*\}|\\boxed\b")
_LATEX_OPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\\(?:cdot|times|ast)(?![A-Za-z])"), "*"),
    (re.compile(r"\\div(?![A-Za-z])"), "/"),
    (re.compile(r"\\(?:left|right|displaystyle)(?![A-Za-z])"), ""),
    (re.compile(r"\\[()\[\]]|\$+"), " "),
    (re.compile(r"\\(?:quad|qquad)(?![A-Za-z])|\\[,;:! ]"), " "),
    (re.compile(r"\{,\}"), ","),  # 0{,}5: a decimal comma in LaTeX
)


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    return lambda m: text


def _frac(m: re.Match[str]) -> Sequence[Piece]:
    # ((a)/(b)): a \frac is one quantity, so "\frac{2}{3}x" is (2/3)·x, never 2/(3x)
    return [
        ("((", m.start(), m.start(1)),
        (m.group(1), m.start(1), m.end(1)),
        (")/(", m.end(1), m.start(2)),
        (m.group(2), m.start(2), m.end(2)),
        ("))", m.end(2), m.end()),
    ]


def _inner(m: re.Match[str]) -> Sequence[Piece]:
    return [(" ", m.start(), m.start(1)), (m.group(1), m.start(1), m.end(1)), (" ", m.end(1), m.end())]


def _keep(m: re.Match[str]) -> Sequence[Piece]:
    """Copy a group through with its own positions (used to drop markup around it)."""
    return [(m.group(1), m.start(1), m.end(1))]


# -- markdown ----------------------------------------------------------------------------------
_FENCE = re.compile(r"```[ \t]*[\w+.-]*")
_MARKUP = re.compile(r"`|\*\*|~~")
_LINE_MARK = re.compile(r"(?m)^[ \t]*(?:#{1,6}[ \t]+|>[ \t]*|[-*+\u2022][ \t]+|(?:\d{1,2}|[A-Za-z])[.)][ \t]+)")

# -- answer placeholders -----------------------------------------------------------------------
#: What stands in for the value in an answer-format line: <value>, [answer], {x}, ?, ..., ___, #.
_SLOT = r"(?:<[^<>\n=]{0,40}>|\[[^\[\]\n=]{0,40}\]|\{[^{}\n=]{0,40}\}|\?+|\.{3}|\u2026|_{2,}|#+|\(\s*\?\s*\))"
_PLACEHOLDER = re.compile(rf"(?<![\w)\]])([A-Za-z])\s*=\s*{_SLOT}|(?<![\w\\])[<\[{{]\s*([A-Za-z])\s*[>\]}}](?![\w(])")
#: The word a placeholder becomes: prose to the parser, a marker to the reader.
SLOT_WORD = "ANSWERSLOT"

# -- numbers -----------------------------------------------------------------------------------
_GROUPED = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)+(?![\d]|[.,]\d)")
_US_FULL = re.compile(r"\d{1,3}(?:,\d{3})+\.\d+|\d{1,3}(?:,\d{3}){2,}")
_EU_FULL = re.compile(r"\d{1,3}(?:\.\d{3})+,\d+|\d{1,3}(?:\.\d{3}){2,}")
_COMMA3 = re.compile(r"\d{1,3},\d{3}")
_DOT = re.compile(r"\d+\.\d+")
_COMMA = re.compile(r"\d+,\d+")
_ENGLISH = re.compile(
    r"\b(?:the|solve|find|what|is|for|of|and|value|equation|answer|please|show|steps?|give|if|how|determine|"
    r"calculate|compute|number|write|round|work)\b",
    re.IGNORECASE,
)
#: "x increased by 20%" is x·(1 + 20/100); "reduced by 15%" is ·(1 - 15/100). Only after math.
_PERCENT_CHANGE = re.compile(
    r"(?<=[A-Za-z\d)])\s+(increased|raised|grown|marked\s+up|decreased|reduced|lowered|discounted|marked\s+down)"
    r"\s+by\s+(\d+(?:\.\d+)?)\s*(?:%|\\%|percent\b|per\s*cent\b)",
    re.IGNORECASE,
)
#: "a number n", "the unknown x": the name of the number is the letter.
_NAMED_NUMBER = re.compile(
    r"\b(?:a|an|the|some|this|that)\s+(?:(?:certain|positive|negative|whole|unknown|real)\s+)?"
    r"(?:number|value|quantity|unknown|integer)\s+([A-Za-z])(?![\w'])",
    re.IGNORECASE,
)
_PERCENT_OF = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(?:%|\\%|percent\b|per\s*cent\b)\s*of\b", re.IGNORECASE)
_FRACTION_COEFFICIENT = re.compile(
    r"(?<![\w.)^/])(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)(?=\s*(?:[A-Za-z](?![A-Za-z'])|\())"
)


#: "15% of x is 42", "3n + 5 equals 20": a verb of equality between two pieces of math is "=".
#: Only between math (a number, a lone letter or a bracket on both sides), so "Tom is 12" stays prose.
_VERBAL_EQUALS = re.compile(
    r"(?<=(?:(?<![A-Za-z'])[A-Za-z]|\d|\)))\s+(?:is|equals|(?:is\s+)?equal\s+to)\s+(?=[-+(]?\s*(?:\d|\.\d|(?<![A-Za-z])[A-Za-z](?![A-Za-z'])))",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class MathText:
    """The prompt in parser-ready ASCII, its map back to the prompt, and what was learned on the way."""

    mapped: MappedText
    placeholders: tuple[str, ...] = ()  # variables named by answer placeholders ("x = ?" → "x")
    locale: str = "none"  # "us" | "eu" | "none": how grouped numbers were read
    notes: tuple[str, ...] = field(default=())


def _read_locale(text: str) -> str:
    """``us`` (2,500.5), ``eu`` (2.500,5) or ``none``; raises :class:`Unreadable` when in doubt."""
    us = eu = ambiguous = False
    for m in _GROUPED.finditer(text):
        token = m.group(0)
        if _US_FULL.fullmatch(token):
            us = True
        elif _EU_FULL.fullmatch(token):
            eu = True
        elif _COMMA3.fullmatch(token) and not token.startswith("0"):
            ambiguous = True  # 2,500: thousands (us) or a decimal comma (eu)
        elif _COMMA.fullmatch(token):
            eu = True  # 0,5 or 2,25: only a decimal comma reads that way
        elif _DOT.fullmatch(token):
            if len(token.split(".")[1]) == 3 and not token.startswith("0"):
                ambiguous = True  # 2.500: a decimal point (us) or thousands (eu)
            else:
                us = True
        else:
            raise Unreadable(f"cannot read the number {token!r}")
    if us and eu:
        raise Unreadable("the text mixes decimal points and decimal commas")
    if eu:
        if ambiguous:
            raise Unreadable("the text writes decimal commas and also numbers like 2,500 or 2.500")
        return "eu"
    if us or not ambiguous:
        return "us" if us else "none"
    # 2,500 or 2.500 with no other number to tell: English writes thousands with a comma and
    # decimals with a point; without English words around it we cannot tell.
    if _ENGLISH.search(text) is None:
        raise Unreadable("cannot tell whether ',' and '.' separate thousands or decimals here")
    return "us"


_US_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_EU_NUMBER = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:,\d+)?")


def read_number(token: str, locale: str) -> str:
    """The plain ASCII spelling of a number written in ``locale`` (``2,500`` → ``2500``, eu ``0,5`` → ``0.5``).

    Raises :class:`Unreadable` when ``token`` is not a number of that locale.
    """
    if locale == "eu":
        if not _EU_NUMBER.fullmatch(token):
            raise Unreadable(f"cannot read the number {token!r}")
        return token.replace(".", "").replace(",", ".")
    if not _US_NUMBER.fullmatch(token):
        raise Unreadable(f"cannot read the number {token!r}")
    return token.replace(",", "")


def math_text(raw: str) -> MathText:
    """``raw`` in parser-ready ASCII (see the module docstring). Raises :class:`Unreadable`."""
    mt = MappedText(raw)
    mt = mt.sub(_SUPERSCRIPT, _superscript)
    mt = mt.sub(_VULGAR_RE, _vulgar)
    mt = mt.sub(_NON_ASCII, _char)
    if "\\" in mt.text or "$" in mt.text:
        mt = mt.sub(_BOXED, lambda m: " ")
        mt = mt.sub(_TEXT_CMD, _inner)
        for _ in range(4):  # nested \frac, innermost first
            if _FRAC.search(mt.text) is None:
                break
            mt = mt.sub(_FRAC, _frac)
        for pattern, repl in _LATEX_OPS:
            mt = mt.sub(pattern, _constant(repl))
    mt = mt.sub(_FENCE, lambda m: " ")
    mt = mt.sub(_MARKUP, lambda m: "")
    mt = mt.sub(_LINE_MARK, lambda m: " ")
    slots: list[str] = []

    def placeholder(m: re.Match[str]) -> str:
        slots.append(m.group(1) or m.group(2))
        return f" {SLOT_WORD} "

    mt = mt.sub(_PLACEHOLDER, placeholder)
    locale = _read_locale(mt.text)
    mt = mt.sub(_GROUPED, lambda m: read_number(m.group(0), locale))
    mt = mt.sub(_PERCENT_CHANGE, _percent_change)
    mt = mt.sub(_PERCENT_OF, _percent_of)
    mt = mt.sub(_NAMED_NUMBER, _keep)
    mt = mt.sub(_FRACTION_COEFFICIENT, _fraction_coefficient)
    mt = mt.sub(_VERBAL_EQUALS, lambda m: " = ")
    mt = mt.sub(re.compile(r"[{}]"), lambda m: "(" if m.group(0) == "{" else ")")
    return MathText(mt, tuple(slots), locale)


def _percent_of(m: re.Match[str]) -> Sequence[Piece]:
    # "15% of x" is (15/100)·x; the 100 and the product are written by the rewrite, so they map to
    # "% of". A bare "%" is left alone: the reader declines an equation that touches it.
    return [("(", m.start(), m.start()), (m.group(1), m.start(1), m.end(1)), ("/100)*", m.end(1), m.end())]


def _percent_change(m: re.Match[str]) -> Sequence[Piece]:
    sign = "-" if m.group(1).lower().startswith(("de", "re", "lo", "di", "marked d")) else "+"
    return [(f"*(1{sign}", m.start(), m.start(2)), (m.group(2), m.start(2), m.end(2)), ("/100)", m.end(2), m.end())]


def _fraction_coefficient(m: re.Match[str]) -> Sequence[Piece]:
    # "1/2x" is (1/2)·x: read as 1/(2x) the equation would not be linear, so within a linear-equation
    # request this is the only reading (and the one calculators and textbooks use).
    return [
        ("(", m.start(), m.start()),
        (m.group(1), m.start(1), m.end(1)),
        ("/", m.end(1), m.start(2)),
        (m.group(2), m.start(2), m.end(2)),
        (")", m.end(2), m.end(2)),
    ]
