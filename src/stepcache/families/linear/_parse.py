"""Reading linear equations out of free text: normalise, tokenise, find equations, parse them.

A linear expression evaluates to ``(a, b)`` meaning ``a·v + b`` with exact :class:`~fractions.Fraction`
coefficients. Anything that is not linear in one variable raises :class:`NotLinear`; callers decide
whether that means "not our task" (detection) or "this step is wrong" (verification).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, NamedTuple, TypeVar

from ._text import CHAR_MAP, SUPERSCRIPTS

__all__ = [
    "Lin",
    "Tok",
    "Found",
    "NotLinear",
    "normalise",
    "number",
    "tokenize",
    "find_equations",
    "expanded_terms",
    "Terms",
    "canonical",
    "strip_numbering",
    "math_runs",
]

#: ``a·v + b``.
Lin = tuple[Fraction, Fraction]

_ZERO = Fraction(0)
_ONE = Fraction(1)


class NotLinear(ValueError):
    """The text is not a linear expression in (at most) one variable."""


# -- normalisation -----------------------------------------------------------------------------
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_POWER = re.compile(r"(?<=[\w)])\s*\*\*\s*(?=[\w(])")
_CHAR_MAP = str.maketrans(
    {
        **CHAR_MAP,
        **{sup: f"^{digit}" for sup, digit in SUPERSCRIPTS.items()},
        "{": "(",
        "}": ")",
        "$": " ",
    }
)
_LATEX = (
    (re.compile(r"\\(?:cdot|times)"), "*"),
    (re.compile(r"\\div"), "/"),
    (re.compile(r"\\(?:left|right)\b"), ""),
    (re.compile(r"\\[()\[\]]"), " "),
)


def normalise(text: str) -> str:
    """Map the spellings models and people use (unicode minus, ×, LaTeX, ``**``) onto ASCII math."""
    if "\\" in text:
        for _ in range(4):  # nested \frac, innermost first
            new = _FRAC.sub(r"(\1)/(\2)", text)
            if new == text:
                break
            text = new
        for pattern, repl in _LATEX:
            text = pattern.sub(repl, text)
    if "**" in text:
        text = _POWER.sub("^", text).replace("**", "")  # what is left is markdown bold
    return text.translate(_CHAR_MAP)


_NUMBERING = re.compile(
    r"^\s*(?:step\s*\d+\s*[:.)\-]?|\(?\d+\s*[.):](?!\d)|#+)\s*",
    re.IGNORECASE,
)


def strip_numbering(line: str) -> str:
    """``"2. 3x = 15"``, ``"Step 2: 3x = 15"``, ``"2) 3x = 15"`` → ``"3x = 15"``."""
    return _NUMBERING.sub("", line, count=1).strip()


@functools.lru_cache(maxsize=4096)
def number(text: str) -> Fraction:
    """``Fraction(text)``, cached: parsing a decimal string is the slowest thing on the hot path."""
    return Fraction(text)


# -- tokens ------------------------------------------------------------------------------------
class Tok(NamedTuple):  # a tuple: tokenising is on the hot path
    kind: str  # num | let | word | op | lp | rp | eq | sp | other
    text: str
    start: int


_TOKEN = re.compile(
    r"(?P<num>\d+(?:\.\d+)?|\.\d+)|(?P<word>[^\W\d_]+(?:'[^\W\d_]+)*)|(?P<op>[-+*/^])|(?P<lp>\()|(?P<rp>\))"
    r"|(?P<eq>=)|(?P<sp>\s+)|(?P<other>.)",
    re.DOTALL,
)
_MATH = frozenset({"num", "let", "op", "lp", "rp", "eq", "sp"})


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        word = m.group()
        if kind == "word" and len(word) == 1 and word.isascii():
            kind = "let"  # "ó" of "ecuación" is part of a word, never an unknown
        out.append(Tok(kind, word, m.start()))
    return out


# -- parser ------------------------------------------------------------------------------------
V = TypeVar("V")


class _Parser(Generic[V]):
    """Recursive descent: expr := term (± term)*; term := unary ((*|/) unary | implicit)*;
    unary := ± unary | power; power := atom (^ unary)?; atom := number | letter | ( expr ).

    Subclasses choose what a value is (:class:`_LinParser`: ``a·v + b``; :class:`_TermParser`: the
    expanded but uncombined terms the fallback writes out).
    """

    __slots__ = ("toks", "pos", "var", "strict", "mentions")

    def __init__(self, var: str | None, strict: bool = False) -> None:
        self.toks: Sequence[Tok] = ()
        self.pos = 0
        self.var = var
        self.strict = strict
        self.mentions = False

    # the algebra
    def _num(self, value: Fraction) -> V:
        raise NotImplementedError

    def _variable(self) -> V:
        raise NotImplementedError

    def _add(self, x: V, y: V, sign: int) -> V:
        raise NotImplementedError

    def _neg(self, x: V) -> V:
        raise NotImplementedError

    def _mul(self, x: V, y: V) -> V:
        raise NotImplementedError

    def _div(self, x: V, y: V) -> V:
        raise NotImplementedError

    def _constant(self, x: V) -> Fraction | None:
        """The value of ``x`` when it does not involve the variable."""
        raise NotImplementedError

    # the grammar
    def parse(self, toks: Sequence[Tok]) -> V:
        self.toks, self.pos, self.mentions = toks, 0, False
        if not toks:
            raise NotLinear("empty side")
        value = self._expr()
        if self.pos != len(toks):
            raise NotLinear(f"unexpected {toks[self.pos].text!r}")
        return value

    def _peek(self) -> Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def _expr(self) -> V:
        value = self._term()
        while (t := self._peek()) is not None and t.kind == "op" and t.text in "+-":
            self.pos += 1
            value = self._add(value, self._term(), 1 if t.text == "+" else -1)
        return value

    def _term(self) -> V:
        value = self._unary()
        after_division = False
        while (t := self._peek()) is not None:
            if t.kind == "op" and t.text in "*/":
                self.pos += 1
                rhs = self._unary()
                value = self._mul(value, rhs) if t.text == "*" else self._div(value, rhs)
                after_division = t.text == "/"
            elif t.kind in ("let", "lp"):
                if self.strict and after_division:
                    # "1/2x" reads as (1/2)x to some people and 1/(2x) to others: not ours to guess.
                    raise NotLinear("ambiguous implicit multiplication after a division")
                value = self._mul(value, self._power())
                after_division = False
            else:
                break
        return value

    def _unary(self) -> V:
        t = self._peek()
        if t is not None and t.kind == "op" and t.text in "+-":
            self.pos += 1
            value = self._unary()
            return self._neg(value) if t.text == "-" else value
        return self._power()

    def _power(self) -> V:
        base = self._atom()
        t = self._peek()
        if t is None or t.text != "^":
            return base
        self.pos += 1
        b, n = self._constant(base), self._constant(self._unary())
        if b is None or n is None:
            raise NotLinear("a power of the variable is not linear")
        if n.denominator != 1 or abs(n) > 12 or (n < 0 and not b):
            raise NotLinear("unsupported exponent")
        return self._num(b ** int(n))

    def _atom(self) -> V:
        t = self._peek()
        if t is None:
            raise NotLinear("expression ends too early")
        self.pos += 1
        if t.kind == "num":
            return self._num(number(t.text))
        if t.kind == "let":
            if self.var is None:
                self.var = t.text
            elif t.text != self.var:
                raise NotLinear(f"unknown symbol {t.text!r} (the variable is {self.var!r})")
            self.mentions = True
            return self._variable()
        if t.kind == "lp":
            value = self._expr()
            close = self._peek()
            if close is None or close.kind != "rp":
                raise NotLinear("unbalanced parentheses")
            self.pos += 1
            return value
        raise NotLinear(f"unexpected {t.text!r}")


class _LinParser(_Parser[Lin]):
    __slots__ = ()

    def _num(self, value: Fraction) -> Lin:
        return _ZERO, value

    def _variable(self) -> Lin:
        return _ONE, _ZERO

    def _add(self, x: Lin, y: Lin, sign: int) -> Lin:
        return (x[0] + y[0], x[1] + y[1]) if sign > 0 else (x[0] - y[0], x[1] - y[1])

    def _neg(self, x: Lin) -> Lin:
        return -x[0], -x[1]

    def _mul(self, x: Lin, y: Lin) -> Lin:
        if x[0] and y[0]:
            raise NotLinear("a product of variable terms is not linear")
        return x[0] * y[1] + y[0] * x[1], x[1] * y[1]

    def _div(self, x: Lin, y: Lin) -> Lin:
        if y[0]:
            raise NotLinear("dividing by the variable is not linear")
        if not y[1]:
            raise NotLinear("division by zero")
        return x[0] / y[1], x[1] / y[1]

    def _constant(self, x: Lin) -> Fraction | None:
        return None if x[0] else x[1]


#: Expanded, uncombined terms: ``2(x - 3) + 4`` → ``((2, 1), (-6, 0), (4, 0))`` (coefficient, degree).
Terms = tuple[tuple[Fraction, int], ...]


class _TermParser(_Parser[Terms]):
    __slots__ = ()

    def _num(self, value: Fraction) -> Terms:
        return ((value, 0),)

    def _variable(self) -> Terms:
        return ((_ONE, 1),)

    def _add(self, x: Terms, y: Terms, sign: int) -> Terms:
        return x + (y if sign > 0 else self._neg(y))

    def _neg(self, x: Terms) -> Terms:
        return tuple((-c, d) for c, d in x)

    def _mul(self, x: Terms, y: Terms) -> Terms:
        k = self._constant(y)
        if k is not None:
            return tuple((c * k, d) for c, d in x)
        k = self._constant(x)
        if k is None:
            raise NotLinear("a product of variable terms is not linear")
        return tuple((c * k, d) for c, d in y)

    def _div(self, x: Terms, y: Terms) -> Terms:
        k = self._constant(y)
        if not k:
            raise NotLinear("dividing by the variable or by zero")
        return tuple((c / k, d) for c, d in x)

    def _constant(self, x: Terms) -> Fraction | None:
        return None if any(d for _, d in x) else sum((c for c, _ in x), _ZERO)


def expanded_terms(side: str, var: str) -> Terms:
    """The terms of one side of an equation after distributing every product and quotient."""
    toks = [t for t in tokenize(normalise(side)) if t.kind != "sp"]
    return _TermParser(var).parse(toks)


# -- finding equations in text -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Found:
    """One ``a = b (= c ...)`` chain found in text.

    ``toks`` are its tokens (no spaces), ``sides`` the parsed sides and ``mentions`` whether each
    side names the variable; ``error`` says why it could not be read (then ``sides`` is empty).
    """

    toks: tuple[Tok, ...]
    sides: tuple[Lin, ...]
    mentions: tuple[bool, ...]
    var: str | None
    error: str = ""

    @property
    def text(self) -> str:
        return canonical(self.toks)


def _runs(toks: Sequence[Tok]) -> list[list[Tok]]:
    runs: list[list[Tok]] = []
    current: list[Tok] = []
    for t in toks:
        if t.kind == "sp" and "\n" in t.text:
            # An equation is written on one line: "Solve:\n3x + 5 = 20\nx" must not read "20 x".
            if current:
                runs.append(current)
            current = []
        elif t.kind in _MATH:
            if t.kind != "sp":
                current.append(t)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def math_runs(toks: Sequence[Tok]) -> list[list[Tok]]:
    """Every run of math tokens (spaces left out), with or without ``=``; a line break ends a run."""
    return _runs(toks)


def _trim(ts: list[Tok]) -> list[Tok]:
    """Drop what prose leaves at a run's edges: ``a)`` labels, dangling operators, stray brackets."""
    while ts:
        first, last = ts[0], ts[-1]
        opens = sum(t.kind == "lp" for t in ts)
        closes = sum(t.kind == "rp" for t in ts)
        if first.kind in ("rp", "eq") or (first.kind == "op" and first.text in "*/^"):
            ts = ts[1:]
        elif first.kind == "let" and len(ts) > 1 and ts[1].kind == "rp":
            ts = ts[2:]
        elif last.kind in ("lp", "eq", "op"):
            ts = ts[:-1]
        elif opens > closes and first.kind == "lp":
            ts = ts[1:]
        elif closes > opens and last.kind == "rp":
            ts = ts[:-1]
        else:
            break
    return ts


def find_equations(toks: Sequence[Tok], var: str | None, *, strict: bool = False) -> list[Found]:
    """Every equation chain in ``toks``. With ``var=None`` the single letter used becomes the variable.

    A run of math tokens that contained ``=`` but is left without one after trimming (``"x = value"``)
    is reported with an ``error`` so that a step cannot hide a claim in unreadable notation.
    """
    found: list[Found] = []
    for run in _runs(toks):
        if not any(t.kind == "eq" for t in run):
            continue
        ts = _trim(run)
        if not any(t.kind == "eq" for t in ts):
            found.append(Found(tuple(run), (), (), var, "incomplete equation"))
            continue
        sides_toks: list[list[Tok]] = [[]]
        for t in ts:
            if t.kind == "eq":
                sides_toks.append([])
            else:
                sides_toks[-1].append(t)
        parser = _LinParser(var, strict)
        try:
            sides: list[Lin] = []
            mentions: list[bool] = []
            for side in sides_toks:
                sides.append(parser.parse(side))
                mentions.append(parser.mentions)
        except (NotLinear, ZeroDivisionError, OverflowError) as exc:
            found.append(Found(tuple(ts), (), (), parser.var, str(exc) or "unreadable"))
            continue
        found.append(Found(tuple(ts), tuple(sides), tuple(mentions), parser.var))
    return found


# -- canonical text ----------------------------------------------------------------------------
def _unary_at(toks: Sequence[Tok], i: int) -> bool:
    return i == 0 or toks[i - 1].kind in ("lp", "op", "eq")


def canonical(
    toks: Sequence[Tok],
    number: Callable[[Tok], str] = lambda t: t.text,
    letter: Callable[[Tok], str] = lambda t: t.text,
) -> str:
    """Space an equation the one way we write it: ``3x + 5 = 20``, ``(2t + 1)/3 = 5``, ``x/4``."""
    parts: list[str] = []
    n = len(toks)
    for i, t in enumerate(toks):
        if t.kind == "num":
            parts.append(number(t))
        elif t.kind == "let":
            parts.append(letter(t))
        elif t.kind == "eq":
            parts.append(" = ")
        elif t.kind == "op" and t.text in "+-":
            parts.append(t.text if _unary_at(toks, i) else f" {t.text} ")
        elif t.kind == "op" and t.text == "*" and 0 < i < n - 1:
            # 3*x is written 3x so that both spellings share one template
            implicit = toks[i - 1].kind == "num" and toks[i + 1].kind == "let"
            parts.append("" if implicit else "*")
        else:
            parts.append(t.text)
    return "".join(parts).strip()
