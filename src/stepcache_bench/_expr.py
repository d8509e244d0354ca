"""The benchmark's one arithmetic: reading, solving and writing the small expressions it handles.

The checker must not trust the engine's own parser (``stepcache.families``), so the benchmark carries
this separate, deliberately small one, and everything in the bench that reads or solves maths — the
checker, the imperfect and oracle models, the mutations — goes through it: numbers (integers,
decimals), single-letter variables, ``+ - * / ^``, parentheses and implicit multiplication
(``4(y - 2)``, ``3x``). Everything evaluates to :class:`fractions.Fraction`, so ``0.1 + 0.2 = 0.3``
holds and ``7/3`` is never rounded. Anything else (prose, multi-letter words, functions) raises
:class:`ExprError`; callers treat that as "not an equation I can check" rather than as a failure.

Solving is by evaluation, not algebra: an expression is linear (or quadratic) in a variable when its
values at a few points fit a line (or parabola) exactly, and the coefficients are read off them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

__all__ = [
    "ExprError",
    "Expr",
    "parse_expr",
    "parse_chain",
    "parse_number",
    "format_fraction",
    "linear_coefficients",
    "quadratic_coefficients",
    "clean_math",
    "difference",
    "solve_linear",
    "quadratic_roots",
    "solve_system",
    "find_equation",
    "rational_sqrt",
    "terminates",
    "as_decimal",
    "show",
    "coefficient",
]

_UNICODE = str.maketrans({"−": "-", "–": "-", "×": "*", "·": "*", "⋅": "*", "÷": "/", "∗": "*"})
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|([A-Za-z]+)|(\*\*|[-+*/^()]))")
_NUMBER = re.compile(r"[-+]?\s*(?:\d+(?:\.\d+)?|\.\d+)(?:\s*/\s*[-+]?\s*(?:\d+(?:\.\d+)?|\.\d+))?")
_PLAIN = re.compile(r"\d+(?:\.\d+)?")
_LATEX_FRAC = re.compile(r"(-?)\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")


class ExprError(ValueError):
    """The text is not an expression this module understands."""


@dataclass(frozen=True, slots=True)
class Expr:
    """A parsed expression: a tree of tuples, evaluated against a variable assignment."""

    tree: tuple[object, ...]
    variables: frozenset[str]

    def __call__(self, env: Mapping[str, Fraction] | None = None) -> Fraction:
        return _eval(self.tree, env or {})


def clean_math(text: str) -> str:
    """Undo the decoration models put around maths (LaTeX, markdown bold, unicode operators)."""
    text = text.translate(_UNICODE)
    text = _LATEX_FRAC.sub(_frac, text)  # before \boxed, whose pattern cannot see nested braces
    text = _LATEX_BOXED.sub(r"\1", text)
    for token in ("\\left", "\\right", "\\(", "\\)", "\\[", "\\]", "$", "`", "**", "__"):
        text = text.replace(token, "")
    return text.replace("\\cdot", "*").replace("\\times", "*").replace("\\div", "/")


def _frac(match: re.Match[str]) -> str:
    sign, top, bottom = match.group(1), match.group(2).strip(), match.group(3).strip()
    if _PLAIN.fullmatch(top) and _PLAIN.fullmatch(bottom):
        return f"{sign}{top}/{bottom}"  # keep '-\\frac{7}{3}' readable as the number -7/3
    return f"{sign}({top})/({bottom})"


def parse_number(text: str) -> Fraction | None:
    """``'5'``, ``'-2.5'``, ``'7/3'``, ``'\\frac{7}{3}'`` → exact value; anything else → ``None``."""
    text = clean_math(text).strip()
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return parse_expr(text)({})
    except (ExprError, ZeroDivisionError):
        return None


def format_fraction(value: Fraction) -> str:
    """The canonical string the workload stores: ``'5'``, ``'-7/3'``."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def parse_expr(text: str) -> Expr:
    parser = _Parser(_tokenize(clean_math(text)))
    tree = parser.expr()
    if parser.pos != len(parser.tokens):
        raise ExprError(f"unexpected {parser.tokens[parser.pos][1]!r}")
    return Expr(tree, frozenset(parser.variables))


def parse_chain(text: str) -> list[Expr]:
    """``'x = 15/3 = 5'`` → one expression per side. Raises :class:`ExprError` without an ``=``."""
    parts = clean_math(text).split("=")
    if len(parts) < 2:
        raise ExprError("no '=' in the text")
    return [parse_expr(part) for part in parts]


def linear_coefficients(f: Expr, variable: str) -> tuple[Fraction, Fraction] | None:
    """``(a, b)`` with ``f(v) = a·v + b`` for every v, or ``None`` when ``f`` is not linear in ``variable``."""
    try:
        f0, f1, f2, f3 = (f({variable: Fraction(v)}) for v in (0, 1, 2, -3))
    except ZeroDivisionError:
        return None
    a = f1 - f0
    if f2 != f0 + 2 * a or f3 != f0 - 3 * a:
        return None
    return a, f0


def quadratic_coefficients(f: Expr, variable: str) -> tuple[Fraction, Fraction, Fraction] | None:
    """``(a, b, c)`` with ``f(v) = a·v² + b·v + c``, or ``None`` when ``f`` is not (at most) quadratic."""
    try:
        f0, f1, fm1, f2, f3 = (f({variable: Fraction(v)}) for v in (0, 1, -1, 2, 3))
    except ZeroDivisionError:
        return None
    c = f0
    a = (f1 + fm1) / 2 - c
    b = (f1 - fm1) / 2
    if f2 != 4 * a + 2 * b + c or f3 != 9 * a + 3 * b + c:
        return None
    return a, b, c


def difference(sides: Sequence[Expr]) -> Expr:
    """``lhs - rhs`` of an equation's two sides: zero exactly at its solutions."""
    left, right = sides
    return Expr(("-", left.tree, right.tree), left.variables | right.variables)


def solve_linear(f: Expr, variable: str) -> Fraction | None:
    """The one root of ``f`` when it is linear in ``variable`` (not constant), else ``None``."""
    coefficients = linear_coefficients(f, variable)
    if coefficients is None or coefficients[0] == 0:
        return None
    return -coefficients[1] / coefficients[0]


def quadratic_roots(f: Expr, variable: str) -> tuple[Fraction, Fraction] | None:
    """The roots ``(-b - √d) / 2a`` and ``(-b + √d) / 2a`` of a quadratic ``f`` (equal for a double
    root) when they are rational."""
    coefficients = quadratic_coefficients(f, variable)
    if coefficients is None or coefficients[0] == 0:
        return None
    a, b, c = coefficients
    root = rational_sqrt(b * b - 4 * a * c)
    if root is None:
        return None
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def solve_system(first: Sequence[Expr], second: Sequence[Expr]) -> dict[str, Fraction] | None:
    """The unique solution of two linear equations (each as its two sides) in two variables."""
    names = sorted(set().union(*(s.variables for s in (*first, *second))))
    if len(names) != 2:
        return None
    v, w = names

    def row(sides: Sequence[Expr]) -> tuple[Fraction, Fraction, Fraction]:
        f = difference(sides)
        c0 = f({v: Fraction(0), w: Fraction(0)})
        return f({v: Fraction(1), w: Fraction(0)}) - c0, f({v: Fraction(0), w: Fraction(1)}) - c0, -c0

    (a1, b1, c1), (a2, b2, c2) = row(first), row(second)
    det = a1 * b2 - a2 * b1
    if det == 0:
        return None
    return {v: (c1 * b2 - c2 * b1) / det, w: (a1 * c2 - a2 * c1) / det}


def find_equation(text: str) -> tuple[str, list[Expr], str] | None:
    """The longest parseable one-unknown ``lhs = rhs`` at the end of some clause of ``text``:
    (its variable, its two sides, the equation as written)."""
    for clause in re.split(r"[?!:;]|\.(?=\s|$)", text):
        if "=" not in clause:
            continue
        words = clause.split()
        spans = sorted(
            ((i, j) for i in range(len(words)) for j in range(i + 1, len(words) + 1)), key=lambda s: s[0] - s[1]
        )
        for start, end in spans:  # longest first: "Solve the equation 6z + 5 = 23 for z"
            candidate = " ".join(words[start:end])
            if "=" not in candidate:
                continue
            try:
                sides = parse_chain(candidate)
            except ExprError:
                continue
            names = set().union(*(s.variables for s in sides))
            if len(sides) == 2 and len(names) == 1:
                return names.pop(), sides, candidate
    return None


def rational_sqrt(value: Fraction) -> Fraction | None:
    """The exact square root of ``value`` when it is rational, else ``None``."""
    if value < 0:
        return None
    top, bottom = math.isqrt(value.numerator), math.isqrt(value.denominator)
    return Fraction(top, bottom) if top * top == value.numerator and bottom * bottom == value.denominator else None


# -- writing numbers --------------------------------------------------------------------------------


def terminates(value: Fraction) -> bool:
    """``value`` has a finite decimal expansion (its denominator has no prime factor but 2 and 5)."""
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def as_decimal(value: Fraction) -> str:
    """A terminating fraction as a decimal: 5/2 → ``'2.5'``, 4 → ``'4'``."""
    if value.denominator == 1:
        return str(value.numerator)
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".")


def show(value: Fraction, *, decimal: bool) -> str:
    """An integer, a terminating decimal (when ``decimal``), else a reduced fraction ``a/b``."""
    if decimal and value.denominator != 1 and terminates(value):
        return as_decimal(value)
    return format_fraction(value)


def coefficient(a: Fraction) -> str:
    """``a`` written before a variable: ``''`` for 1, ``'-'`` for -1, ``'2.5'``, ``'(2/3)'`` (never the
    ambiguous ``2/3x``)."""
    if a in (1, -1):
        return "" if a == 1 else "-"
    shown = show(a, decimal=True)
    return f"({shown})" if "/" in shown else shown


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ExprError(f"cannot read {text[pos : pos + 10]!r}")
        number, word, op = match.groups()
        if number is not None:
            tokens.append(("num", number))
        elif word is not None:
            if len(word) != 1:  # a word, not a variable: this is prose
                raise ExprError(f"{word!r} is not a variable")
            tokens.append(("var", word))
        else:
            tokens.append(("op", "^" if op == "**" else op))
        pos = match.end()
    if not tokens:
        raise ExprError("empty expression")
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.variables: set[str] = set()

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, op: str) -> bool:
        if self._peek() == ("op", op):
            self.pos += 1
            return True
        return False

    def expr(self) -> tuple[object, ...]:
        node = self.term()
        while True:
            if self._take("+"):
                node = ("+", node, self.term())
            elif self._take("-"):
                node = ("-", node, self.term())
            else:
                return node

    def term(self) -> tuple[object, ...]:
        node = self.unary()
        while True:
            nxt = self._peek()
            if self._take("*"):
                node = ("*", node, self.unary())
            elif self._take("/"):
                node = ("/", node, self.unary())
            elif nxt is not None and (nxt[0] == "var" or nxt == ("op", "(")):
                node = ("*", node, self.power())  # implicit multiplication: 3x, 4(y - 2)
            else:
                return node

    def unary(self) -> tuple[object, ...]:
        if self._take("-"):
            return ("neg", self.unary())
        if self._take("+"):
            return self.unary()
        return self.power()

    def power(self) -> tuple[object, ...]:
        base = self.atom()
        if self._take("^"):
            return ("^", base, self.unary())
        return base

    def atom(self) -> tuple[object, ...]:
        token = self._peek()
        if token is None:
            raise ExprError("expression ends too early")
        self.pos += 1
        kind, text = token
        if kind == "num":
            return ("num", Fraction(text))
        if kind == "var":
            self.variables.add(text)
            return ("var", text)
        if text == "(":
            node = self.expr()
            if not self._take(")"):
                raise ExprError("unbalanced parenthesis")
            return node
        raise ExprError(f"unexpected {text!r}")


def _eval(node: tuple[object, ...], env: Mapping[str, Fraction]) -> Fraction:
    op = node[0]
    if op == "num":
        value = node[1]
        assert isinstance(value, Fraction)
        return value
    if op == "var":
        name = node[1]
        assert isinstance(name, str)
        if name not in env:
            raise ExprError(f"no value for {name!r}")
        return env[name]
    if op == "neg":
        return -_eval(node[1], env)  # type: ignore[arg-type]
    left = _eval(node[1], env)  # type: ignore[arg-type]
    right = _eval(node[2], env)  # type: ignore[arg-type]
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return left / right  # ZeroDivisionError propagates: callers decide
    if right.denominator != 1 or abs(right) > 12:  # only small integer powers are arithmetic here
        raise ExprError(f"unsupported exponent {right}")
    return Fraction(left) ** int(right)
