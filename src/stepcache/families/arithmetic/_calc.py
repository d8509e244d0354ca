"""Calculations inside a solution line, read and evaluated exactly.

A line such as ``Then multiply: 14 pounds/day * 150% = 21 pounds/day`` holds one calculation: the
expression left of ``=`` and the number right of it. :func:`calculations` finds each one with the
spans of its numbers, so a checker can evaluate it and an adapter can rewrite its operands and result.

Grammar of the expression (words between a number and the next operator are its unit and dropped)::

    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/" | "of") factor | implicit)*      implicit: 2(40 + 9)
    factor := "-" factor | number | "(" expr ")"

``*`` may be written ``x``, ``×``, ``·`` or ``times``; ``/`` as ``÷`` or ``divided by``; ``+`` as
``plus``; ``-`` as ``minus`` or ``−``. ``40%`` is 40/100. ``25% of 80`` and ``1/2 of 32`` multiply.
The expression starts at the leftmost place that parses and has at least one operator: a bare
``= 16`` after words ("half of the 32 balls = 16") is prose, not a calculation, and is never checked
or "corrected".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from ._numbers import parse_number

__all__ = ["Token", "Calc", "tokens_of", "calculations", "evaluate"]

_TOKEN = re.compile(
    r"(?P<num>(?:[$€£]\s?)?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:\s?%)?)"
    r"|(?P<op>[-+*/×÷·−–()=x])"
    r"|(?P<word>[A-Za-z][A-Za-z'’]*(?:[/-][A-Za-z]+)*)"
    r"|(?P<punct>[^\sA-Za-z0-9])"
)
_WORD_OPS = {"times": "*", "plus": "+", "minus": "-", "multiplied": "*", "divided": "/"}
_OP_NORMAL = {"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-", "x": "*"}
#: Unit runs longer than this are prose ("she completed 3 for a total of 10*3").
_MAX_UNIT_WORDS = 6


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "num" | "op" | "word" | "punct"
    text: str
    start: int
    end: int
    value: Fraction | None = None  # for numbers: exact value, a percentage divided by 100
    percent: bool = False


@dataclass(frozen=True, slots=True)
class Calc:
    """One calculation of a line: ``operands`` (indices into the line's tokens, in order), the
    expression as a token sequence over them (``ops``), and the stated ``result`` token index."""

    operands: tuple[int, ...]
    ops: tuple[str | int, ...]  # operators as strings, operands as indices into ``operands``
    result: int
    #: A chain ``A = B = C`` whose middle ``B`` is itself an expression (``32 - (4 + 8) = 32 - 12 =
    #: 20``): its numbers (token indices) and operator sequence. ``B`` must equal ``C`` too; its
    #: numbers are the writer's partial results, checked by that equality, never carried.
    middle: tuple[int, ...] = ()
    middle_ops: tuple[str | int, ...] = ()

    def value(self, values: Sequence[Fraction]) -> Fraction | None:
        """The expression's exact value for these operand values (``None``: division by zero)."""
        return evaluate(self.ops, values)

    def agrees(self, value: Fraction | None, stated: Token) -> bool:
        """Whether ``value`` is what ``stated`` says: ``50%`` is 0.5, and also 50 where a writer
        multiplied by 100 and then wrote the sign ("11 / 22 × 100 = 50%")."""
        if value is None or stated.value is None:
            return False
        return value == stated.value or (stated.percent and value == stated.value * 100)

    def middle_value(self, tokens: Sequence[Token]) -> Fraction | None:
        return evaluate(self.middle_ops, [tokens[i].value or Fraction(0) for i in self.middle]) if self.middle else None


def tokens_of(line: str) -> list[Token]:
    """The line's tokens; ``yard(s)`` reads as ``yard``, glued ``3x4`` as ``3 * 4``."""
    text = re.sub(r"(?<=[A-Za-z])\(s\)", "   ", line)
    tokens: list[Token] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "punct"
        raw = m.group(0)
        if kind == "num":
            digits = re.sub(r"[$€£%\s]", "", raw)
            value = parse_number(digits)
            percent = raw.rstrip().endswith("%")
            tokens.append(Token("num", raw, m.start(), m.end(), value / 100 if percent else value, percent))
        elif kind == "op" and raw == "x":
            tokens.append(Token("op", "x", m.start(), m.end()))
        else:
            tokens.append(Token(kind, raw, m.start(), m.end()))
    return _ratio_words(_resolve_x(tokens))


_RATIO_WORDS = {"half": Fraction(1, 2), "third": Fraction(1, 3), "quarter": Fraction(1, 4)}


def _ratio_words(tokens: list[Token]) -> list[Token]:
    """``half of 32``: the ratio word is an operand (1/2), so the calculation reads as (1/2) of 32."""
    out = list(tokens)
    for i, tok in enumerate(tokens[:-2]):
        word = tok.text.lower()
        followed = tokens[i + 1].text.lower() == "of" and tokens[i + 2].kind == "num"
        if tok.kind == "word" and word in _RATIO_WORDS and followed:
            out[i] = Token("num", tok.text, tok.start, tok.end, _RATIO_WORDS[word])
    return out


def _resolve_x(tokens: list[Token]) -> list[Token]:
    """``x`` is times only between two operands (``3 x 4``); elsewhere it is a letter (a word)."""
    out: list[Token] = []
    for i, tok in enumerate(tokens):
        if tok.kind == "op" and tok.text == "x":
            back = i - 1
            while back >= 0 and i - back <= _MAX_UNIT_WORDS and tokens[back].kind == "word":
                back -= 1  # "3 apples x 4": the operand's unit stands between
            prev = tokens[back] if back >= 0 else None
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            operand_before = prev is not None and (prev.kind == "num" or prev.text == ")")
            operand_after = nxt is not None and (nxt.kind == "num" or nxt.text == "(")
            if not (operand_before and operand_after):
                tok = Token("word", "x", tok.start, tok.end)
        out.append(tok)
    return out


def calculations(tokens: Sequence[Token]) -> list[Calc]:
    """Every calculation of a line, left to right (see the module docstring)."""
    calcs: list[Calc] = []
    boundary = 0  # tokens before this belong to an earlier calculation or clause
    equals = [i for i, tok in enumerate(tokens) if tok.kind == "op" and tok.text == "="]
    skip: set[int] = set()
    for n, eq in enumerate(equals):
        if eq in skip:
            continue
        result = _result_after(tokens, eq)
        found = _expression_before(tokens, boundary, eq)
        if found is not None and result is None and n + 1 < len(equals):
            # "A = B = C" with B an expression: A's value must be C, and so must B's.
            nxt = equals[n + 1]
            middle = _parse(tokens, eq + 1, nxt)
            final = _result_after(tokens, nxt)
            if middle is not None and final is not None:
                calcs.append(Calc(found[0], found[1], final, middle=middle[0], middle_ops=middle[1]))
                skip.add(nxt)
                boundary = nxt + 1
                continue
        if found is not None and result is not None:
            calcs.append(Calc(operands=found[0], ops=found[1], result=result))
        boundary = eq + 1
    return calcs


def _result_after(tokens: Sequence[Token], eq: int) -> int | None:
    nxt = eq + 1
    if nxt < len(tokens) and tokens[nxt].kind == "num":
        after = tokens[nxt + 1] if nxt + 1 < len(tokens) else None
        unit = nxt + 2 < len(tokens) and tokens[nxt + 2].kind == "word"
        if (
            after is not None
            and after.kind == "op"
            and after.text in "*/×÷(+-−–·x"
            and not (after.text == "/" and unit)
        ):
            return None  # "= 3 * 4 = 12", "= 32 - 12 = 20": the stated value is itself an expression
        return nxt
    return None


def _expression_before(
    tokens: Sequence[Token], lo: int, eq: int
) -> tuple[tuple[int, ...], tuple[str | int, ...]] | None:
    # The segment ends at '='; it starts after the last clause break (":" ";" "," "." ...).
    for i in range(eq - 1, lo - 1, -1):
        if tokens[i].kind == "punct" and tokens[i].text not in "$€£":
            lo = i + 1
            break
    for start in range(lo, eq):
        tok = tokens[start]
        if tok.kind == "num" or tok.text in ("(", "-", "−"):
            parsed = _parse(tokens, start, eq)
            if parsed is not None and any(isinstance(o, str) and o not in "()" for o in parsed[1]):
                return parsed
    return None


def _parse(tokens: Sequence[Token], start: int, end: int) -> tuple[tuple[int, ...], tuple[str | int, ...]] | None:
    """Operators and operands of ``tokens[start:end]`` with units dropped, or ``None`` if it is not
    a well-formed expression."""
    seq: list[str | int] = []
    operands: list[int] = []
    i = start
    after_operand = False
    while i < end:
        tok = tokens[i]
        if tok.kind == "num":
            if after_operand:
                return None
            operands.append(i)
            seq.append(len(operands) - 1)
            after_operand = True
            i += 1
        elif tok.kind == "word":
            word = tok.text.lower()
            if word in _WORD_OPS and after_operand:
                seq.append(_WORD_OPS[word])
                after_operand = False
                i += (
                    2 if word in ("multiplied", "divided") and i + 1 < end and tokens[i + 1].text.lower() == "by" else 1
                )
                continue
            if (
                word == "of"
                and after_operand
                and _ratio_before(tokens, i)
                and i + 1 < end
                and tokens[i + 1].kind == "num"
            ):
                seq.append("*")
                after_operand = False
                i += 1
                continue
            if not after_operand or len(word) == 1:
                return None  # "2x + 110": a letter next to a number is an unknown, not a unit
            run = i
            while run < end and tokens[run].kind == "word" and tokens[run].text.lower() not in _WORD_OPS:
                run += 1
            if run - i > _MAX_UNIT_WORDS:
                return None
            if run < end and not (tokens[run].kind == "op" or tokens[run].text.lower() in _WORD_OPS):
                return None
            i = run
        elif tok.kind == "op":
            op = _OP_NORMAL.get(tok.text, tok.text)
            if op == "(":
                if after_operand:
                    seq.append("*")  # 2(40 + 9)
                seq.append("(")
                after_operand = False
            elif op == ")":
                if not after_operand:
                    return None
                seq.append(")")
            elif op == "-" and not after_operand:
                seq.append("neg")
            elif op == "/" and after_operand and i + 1 < end and tokens[i + 1].kind == "word":
                i += 1  # "$11/ball": a rate's unit, not a division
                continue
            elif op in "+-*/":
                if not after_operand:
                    return None
                seq.append(op)
                after_operand = False
            else:
                return None
            i += 1
        else:
            return None
    if not after_operand or not operands:
        return None
    if evaluate(seq, [tokens[k].value or Fraction(0) for k in operands], check_only=True) is None:
        return None
    return tuple(operands), tuple(seq)


def _ratio_before(tokens: Sequence[Token], i: int) -> bool:
    """``25% of``, ``1/2 of``, ``half of``: "of" multiplies only after a percentage or a fraction."""
    prev = tokens[i - 1]
    if prev.kind == "num" and (prev.percent or prev.text.lower() in _RATIO_WORDS):
        return True
    return i >= 3 and prev.kind == "num" and tokens[i - 2].text == "/" and tokens[i - 3].kind == "num"


class _Syntax(Exception):
    pass


def evaluate(ops: Sequence[str | int], values: Sequence[Fraction], *, check_only: bool = False) -> Fraction | None:
    """The value of an operator sequence from :func:`calculations` for ``values``; ``None`` when it
    does not parse or divides by zero (``check_only``: a parse that divides by zero still counts)."""
    pos = 0

    def peek() -> str | int | None:
        return ops[pos] if pos < len(ops) else None

    def take() -> str | int:
        nonlocal pos
        if pos >= len(ops):
            raise _Syntax
        pos += 1
        return ops[pos - 1]

    def expr() -> Fraction:
        value = term()
        while peek() in ("+", "-"):
            op = take()
            right = term()
            value = value + right if op == "+" else value - right
        return value

    def term() -> Fraction:
        value = factor()
        while peek() in ("*", "/"):
            op = take()
            right = factor()
            if op == "*":
                value = value * right
            elif right == 0:
                if check_only:
                    value = Fraction(0)
                else:
                    raise ZeroDivisionError
            else:
                value = value / right
        return value

    def factor() -> Fraction:
        tok = take()
        if tok == "neg":
            return -factor()
        if tok == "(":
            value = expr()
            if take() != ")":
                raise _Syntax
            return value
        if isinstance(tok, int):
            return values[tok]
        raise _Syntax

    try:
        value = expr()
    except (_Syntax, ZeroDivisionError, IndexError):
        return None
    return value if pos == len(ops) else None
