"""Reading a chat request as "solve this linear equation", from its content rather than its wording.

A request is a linear task when, whatever the words around it,

1. one user turn holds **exactly one** equation that is linear in one unknown with a unique solution
   (later turns may only follow up without numbers: "how do I solve it?"; earlier turns and the
   assistant's replies are context);
2. the caller **wants it solved**: a solve-type verb, a question, an answer placeholder
   (``x = ?``), or a message that is nothing but the equation — and nothing asks for something else
   (evaluate at a value, simplify, graph, an inequality, code);
3. the equation read is **the equation written**: it is parsed from the text that :mod:`._text`
   rewrote, re-rendered and parsed again, and mapped back onto the prompt's own characters — every
   digit and letter of its span belongs to one of its tokens, every number reads the same in the
   prompt's locale, and nothing that could extend it (a digit, an operator, ``%``, "of", "twice",
   "dozen") touches its edges. A misread therefore declines instead of solving the wrong equation;
4. the caller's presentation is one the family can write (:mod:`._present`).

When any of these is in doubt the request is declined (``None``) and answered as generic: a miss
costs one model call, a misread serves a wrong answer.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, replace

from ..._types import ChatRequest
from ._parse import Found, Tok, find_equations, math_runs, number, tokenize
from ._present import Presentation, presentation_of, without_presentation
from ._problem import Problem, problem_from_equation, problem_of
from ._text import SLOT_WORD, MathText, Unreadable, math_text, read_number

__all__ = ["Reading", "read_request", "explain_request", "MAX_TURN_CHARS"]

#: A turn longer than this is not a linear-equation request; reading it would only cost time.
MAX_TURN_CHARS = 6000

_INTENT = re.compile(
    r"\b(?:solve[sd]?|solving|solution|find|determine|compute|calculate|work\s+out|figure\s+out|isolate"
    r"|what\s+is|what's|whats|what\s+does|what\s+would|value\s+of|how\s+(?:do|would|can|should|to)\b"
    r"|help|answer|unknown|result|equals\s+what|get|explain|show\s+(?:me|how|the\s+steps|your\s+work)|walk\s+me\s+through"
    r"|give|do|need|stuck|homework|question|problem|exercise|equation|can\s+you|could\s+you"
    # the same request in the other languages people write equations in
    r"|l\u00f6se|l\u00f6sen|berechne|bestimme|r\u00e9sous|r\u00e9soudre|r\u00e9solvez|calcule[zr]?|trouve[zr]?"
    r"|resuelve|resolver|resuelva|resolva|resolve|halla|encuentra|encontre|risolvi|risolvere|calcola|trova"
    r"|bereken|rozwi\u0105\u017c|oblicz)\b|\?",
    re.IGNORECASE,
)
_NOT_SOLVING = re.compile(
    r"\b(?:evaluat\w*|substitut\w*|plug\w*|simplif\w*|expand\w*|factori[sz]\w*|factor|graph\w*|plot\w*|sketch\w*"
    r"|differentiat\w*|derivative|integra\w*|inequalit\w*|simultaneous|quadratic|prove|proof|verify|identity"
    r"|true\s+or\s+false|is\s+it\s+true|check\s+(?:whether|if|that)|show\s+that|slope|intercept|domain|range"
    r"|systems?\s+of|a\s+system|classify|rewrite|translate|word\s+problem|what\s+(?:kind|type)\s+of"
    r"|is\s+(?:this|it|that|the)(?:\s+(?:equation|one|statement))?\s+(?:linear|true|correct|right|valid|balanced))\b",
    re.IGNORECASE,
)
#: "a simplified fraction", "in simplest form": how to write the answer, not a request to simplify.
_PRESENTED = re.compile(
    r"\bsimplif(?:y|ied)\s+(?:the\s+|your\s+)?(?:fraction|answer|result|value|form)s?\b|\bsimplest\s+form\b"
    r"|\bsimplify\s+(?:it\s+)?(?:as\s+much\s+as\s+possible|fully)\b(?=[^.]*\b(?:answer|fraction)\b)",
    re.IGNORECASE,
)
_NAMED_VAR = re.compile(
    r"\b(?:solve\s+for|value\s+of|find|for|isolate|determine|unknown)\s+([A-Za-z])\b(?![A-Za-z'(])", re.IGNORECASE
)
_ASSIGNED = r"\b(?:when|if|where|given(?:\s+that)?|for|with|at|let|assuming|suppose|using)\s+{var}\s*(?:=|:=|is|equals|be)\s*[-+(]?\s*\d"
_ARTICLES = frozenset({"a", "A", "I"})
#: After "solve for a", what shows that "a" is a letter and not the article: punctuation, the end,
#: or a preposition ("solve for a in ...", "the value of a if ...").
_NAMES_A_LETTER = re.compile(
    r"\s*(?:[:.,;?!)\]]|$|(?:in|if|when|where|such|given|from|using|that|so)\b)", re.IGNORECASE
)
#: Words that continue an arithmetic expression: next to an equation's edge, the equation read
#: would be only part of the one written ("twice x + 3 = 11", "x = 12 dozen", "15 percent of x = 3").
_LEFT_GLUE = frozenset(
    "of times plus minus over by than twice thrice double triple half quarter third sum product difference "
    "quotient squared cubed root sqrt log ln sin cos tan exp abs percent negative opposite reciprocal".split()
)
_RIGHT_GLUE = frozenset(
    "times plus minus over divided multiplied squared cubed percent dozen dozens hundred hundreds thousand "
    "thousands million millions billion more less fewer than of halves thirds quarters per raised".split()
)
#: What "of" multiplies when it continues an expression: "15 % of", "3/4 of", "half of", "twice ... of".
_QUANTITY_BEFORE = re.compile(
    r"(?:[\d%)]|\b(?:half|halves|third|thirds|quarter|quarters|fourth|fifth|tenth|twice|double|triple|dozen|dozens"
    r"|hundred|hundreds|thousand|thousands|percent|percentage|fraction|part|parts|product|sum|square|cube)\b)\s*$",
    re.IGNORECASE,
)
#: How far past the equation's edges markup and spaces are skipped to find its neighbours.
_EDGE_WINDOW = 64
_BAD_EDGE = set("0123456789+-*/^=<>%|\\~&#@_\u2212\u2013\u00d7\u00f7\u00b7\u22c5\u2264\u2265\u2260\u221a")


@dataclass(frozen=True, slots=True)
class Reading:
    """What a linear request asks: the equation (:class:`Problem`) and how to present the answer."""

    problem: Problem
    presentation: Presentation


_MEMO_SIZE = 2048
_memo: OrderedDict[tuple[str, ...], Reading | None] = OrderedDict()


#: Work bounds: requests beyond them are not linear look-alike traffic, and are declined (answered by
#: another family) before any per-number work starts.
MAX_TEXT_CHARS = 20_000
MAX_EQUATION_NUMBERS = 40
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def read_request(request: ChatRequest) -> Reading | None:
    """The linear task ``request`` asks for, or ``None`` when it is not one or in any doubt.

    Readings are memoised by the request's text: a cache sees the same prompt many times, and a
    reading depends on nothing else.
    """
    if request.response_format is not None:
        return None
    key = (request.system, *(f"{m.role}\0{m.content}" for m in request.messages if m.role == "user"))
    if key in _memo:
        _memo.move_to_end(key)
        return _memo[key]
    found = explain_request(request)
    reading = found if isinstance(found, Reading) else None
    _memo[key] = reading
    if len(_memo) > _MEMO_SIZE:
        _memo.popitem(last=False)
    return reading


def explain_request(request: ChatRequest) -> Reading | str:
    """:func:`read_request`, or why the request was declined (for tests and logs)."""
    if request.response_format is not None:
        return "a response_format asks for structured output"
    users = [m.content for m in request.messages if m.role == "user"]
    if sum(len(u) for u in users) > MAX_TEXT_CHARS:
        return f"the user turns are longer than {MAX_TEXT_CHARS} characters: more than one equation's worth"
    chosen = _equation_turn(users)
    if isinstance(chosen, str):
        return chosen
    answered = _answered_after(request, chosen)
    if answered:
        return answered
    text = users[chosen]
    follow_ups = "\n".join(users[chosen + 1 :])
    try:
        mt = math_text(text)
    except Unreadable as exc:
        return str(exc)
    toks = tokenize(mt.mapped.text)
    equations = find_equations(toks, None, strict=True)
    eq = _the_equation(equations)
    if isinstance(eq, str):
        return eq
    if len(_NUMBER.findall(eq.text)) > MAX_EQUATION_NUMBERS:
        # adaptation tries a formula per number over the earlier ones: bounded work needs a bound here
        return (
            f"{eq.text[:40]!r}... has more than {MAX_EQUATION_NUMBERS} numbers; the family verifies smaller equations"
        )
    problem = problem_of(eq, "default")
    if problem is None:
        return f"{eq.text!r} is not a linear equation in one unknown with a unique solution"
    reason = (
        _accounted(text, mt, eq)
        or _inequality_near(toks)
        or _used_elsewhere(toks, eq, problem.var)
        or _assigned(mt.mapped.text, problem)
        or _same_when_reread(problem)
    )
    if reason:
        return reason
    words = _without_equation(mt, eq)  # what the caller wrote around the equation
    asked = "\n".join(part for part in (words, follow_ups) if part.strip())
    reason = _intent(asked, problem.var, mt) or _variable(asked, mt, problem.var)
    if reason:
        return reason
    start, end = _source_span(mt, eq)
    around = [*users[:chosen], text[:start] + " " + text[end:], *users[chosen + 1 :]]
    presentation = presentation_of("\n".join(around), request.system)
    if presentation is None:
        return "the caller asks for a presentation the linear family does not write"
    return Reading(replace(problem, fmt=presentation.fmt), presentation)


# -- which turn --------------------------------------------------------------------------------------
def _answered_after(request: ChatRequest, chosen: int) -> str:
    """Why a follow-up is not a request to solve: an assistant turn after the equation's turn already
    worked with it ("1. 4x = 28 ..."), so "now explain the second step" is about that answer."""
    seen = -1
    for message in request.messages:
        if message.role == "user":
            seen += 1
        elif (
            message.role == "assistant"
            and seen >= chosen
            and _DIGIT.search(message.content)
            and _EQUALITY.search(message.content)
        ):
            return "an assistant turn after the equation already answered it: the follow-up is about that answer"
    return ""


_DIGIT = re.compile(r"\d")
_EQUALITY = re.compile(r"=|\b(?:is|equals)\b", re.IGNORECASE)
_MATH_HINT = re.compile(r"\d\s*[A-Za-z(%]|[A-Za-z)]\s*[-+*/^]|=|\\frac")


def _equation_turn(users: list[str]) -> int | str:
    """The user turn that holds the equation: the last one with math in it. Turns after it may only
    follow up in words (no digits), or the conversation has moved on to something we cannot read."""
    for index in range(len(users) - 1, -1, -1):
        turn = users[index]
        if _DIGIT.search(turn) and _EQUALITY.search(turn) and _MATH_HINT.search(turn):
            if len(users[index]) > MAX_TURN_CHARS:
                return f"the turn is longer than {MAX_TURN_CHARS} characters"
            if any(_DIGIT.search(later) for later in users[index + 1 :]):
                return "a later turn changes numbers the equation turn does not show"
            return index
    return "no equation"


# -- which equation ----------------------------------------------------------------------------------
def _the_equation(equations: list[Found]) -> Found | str:
    complete: dict[str, Found] = {}
    forms: list[Found] = []  # "x = a/b", "x = n": how the answer should look, not an equation
    for f in equations:
        if f.error == "incomplete equation":
            if any(t.kind == "num" for t in f.toks) and any(t.kind == "let" for t in f.toks):
                return f"an incomplete equation {f.text!r}"
            continue  # "x =" left by an answer-format line, "(2,5 = two and a half)"
        if f.error and _answer_form(f):
            forms.append(f)
            continue
        if f.error:
            return f"cannot read {f.text!r}: {f.error}"
        complete.setdefault(f.text, f)  # the same equation written twice is one equation
    if not complete:
        return "no equation"
    if len(complete) > 1:
        return f"{len(complete)} equations: {', '.join(list(complete)[:3])}"
    eq = next(iter(complete.values()))
    for form in forms:
        if form.toks[0].text != eq.var or any(t.text == eq.var for t in form.toks[2:]):
            return f"{form.text!r} is neither the equation nor the form of its answer"
    return eq


def _answer_form(f: Found) -> bool:
    """``v = a/b``: a bare letter equal to an expression of other letters and no number."""
    toks = f.toks
    return (
        len(toks) > 2
        and toks[0].kind == "let"
        and toks[1].kind == "eq"
        and all(t.kind in ("let", "op", "lp", "rp") for t in toks[2:])
    )


def _span(eq: Found) -> tuple[int, int]:
    last = eq.toks[-1]
    return eq.toks[0].start, last.start + len(last.text)


def _source_span(mt: MathText, eq: Found) -> tuple[int, int]:
    """The span of the prompt the equation was read from."""
    a, b = _span(eq)
    return mt.mapped.source(a, b)


def _kept(mt: MathText, start: int, end: int) -> set[int]:
    """Prompt positions in ``[start, end)`` that survive into the math text as something other than
    space: the rest was markup (``$``, ``**``, ``\\left``, bullets) and does not count as a neighbour."""
    mapped = mt.mapped
    kept: set[int] = set()
    # Rewrites keep the order of the text, so the sources are sorted: look only near the span.
    first = max(0, bisect_left(mapped.ends, start + 1) - 1)
    for j in range(first, len(mapped.text)):
        if mapped.starts[j] >= end:
            break
        if not mapped.text[j].isspace():
            kept.update(range(max(start, mapped.starts[j]), min(end, mapped.ends[j])))
    return kept


def _accounted(raw: str, mt: MathText, eq: Found) -> str:
    """Why the equation read is not exactly the equation written ('' when it is)."""
    mapped = mt.mapped
    start, end = _source_span(mt, eq)
    covered: set[int] = set()
    for t in eq.toks:
        ts, te = mapped.source(t.start, t.start + len(t.text))
        covered.update(range(ts, te))
        written = raw[ts:te]
        if t.kind == "num" and any(c.isdigit() for c in written):
            try:
                if number(read_number(_digits_of(written), mt.locale)) != number(t.text):
                    return f"the number {written!r} was read as {t.text}"
            except (Unreadable, ValueError):
                return f"the number {written!r} cannot be read back"
    kept = _kept(mt, max(0, start - _EDGE_WINDOW), min(len(raw), end + _EDGE_WINDOW))
    for i in range(start, end):
        if raw[i].isalnum() and i in kept and i not in covered:
            return f"the equation's text holds {raw[i]!r}, which the equation read leaves out"
    return _edges(raw, kept, start, end, eq)


def _digits_of(written: str) -> str:
    """The number inside a token's source text (``15`` of ``15%``, ``2,500`` of ``$2,500``)."""
    m = re.search(r"\d[\d.,]*\d|\d", written)
    return m.group(0) if m else written


def _edges(raw: str, kept: set[int], start: int, end: int, eq: Found) -> str:
    """Nothing that could continue the equation touches it: no digit, operator, ``%``, glued word or
    arithmetic word ("twice", "of", "dozen") on either side, once markup and spaces are skipped."""
    low, high = max(0, start - _EDGE_WINDOW), min(len(raw), end + _EDGE_WINDOW)
    i = start - 1
    while i >= low and (raw[i].isspace() or i not in kept):
        i -= 1
    j = end
    while j < high and (raw[j].isspace() or j not in kept):
        j += 1
    first = eq.toks[0]
    if first.kind == "op":
        # "-3x + 5 = 20" starts with a sign; "5 apples + x = 12" starts in the middle of a sum.
        glued = len(eq.toks) > 1 and eq.toks[1].start == first.start + 1
        if not (first.text == "-" and glued) and i >= 0 and raw[i] not in "(:\n=":
            return f"the equation starts with {first.text!r} after other text: it may continue that text"
    for side, k, step in (("before", i, -1), ("after", j, 1)):
        if not 0 <= k < len(raw):
            continue
        char = raw[k]
        if char in _BAD_EDGE:
            return f"{char!r} right {side} the equation may be part of it"
        beyond = raw[k + step] if 0 <= k + step < len(raw) else ""
        if char in ".," and beyond.isdigit():
            return f"a number right {side} the equation may be part of it"
        if char.isalpha():
            touching = k == start - 1 if side == "before" else k == end
            if touching:
                return f"a word touches the equation {side} it"
            word = (
                re.search(r"[A-Za-z]+$", raw[max(0, k - 24) : k + 1])
                if side == "before"
                else re.match(r"[A-Za-z]+", raw[k:])
            )
            neighbour = word.group(0).lower() if word else ""
            if neighbour == "of" and side == "before" and not _QUANTITY_BEFORE.search(raw[max(0, k - 40) : k - 1]):
                continue  # "the solution of 3x + 5 = 20": "of" names the equation, it takes no part
            if neighbour in (_LEFT_GLUE if side == "before" else _RIGHT_GLUE):
                return f"the word {neighbour!r} {side} the equation may be part of it"
    return ""


def _inequality_near(toks: list[Tok]) -> str:
    """An inequality sign next to math: the task is an inequality, not an equation."""
    solid = [t for t in toks if t.kind != "sp"]
    for i, t in enumerate(solid):
        if t.kind == "other" and t.text in "<>\u2264\u2265\u2260":
            near = solid[max(0, i - 1) : i] + solid[i + 1 : i + 2]
            if any(n.kind in ("num", "let", "op", "rp", "lp", "eq") for n in near):
                return "an inequality"
    return ""


def _used_elsewhere(toks: list[Tok], eq: Found, var: str) -> str:
    """The unknown in another expression ("If x = 2, what is 3x + 5?"): the request is about more
    than solving this one equation."""
    inside = {t.start for t in eq.toks}
    for run in math_runs(toks):
        if any(t.start in inside for t in run) or any(t.kind == "eq" for t in run):
            continue
        if any(t.kind == "let" and t.text == var for t in run) and any(t.kind in ("num", "op") for t in run):
            return f"the unknown {var!r} also appears in {''.join(t.text for t in run)!r}"
    return ""


def _assigned(text: str, problem: Problem) -> str:
    """The prompt gives the unknown a value ("when x = 4", "if x is 2"), or the "equation" is only
    that: a value given is not an equation to solve."""
    if re.search(_ASSIGNED.format(var=re.escape(problem.var)), text, re.IGNORECASE):
        return f"the prompt gives {problem.var} a value: evaluation, not solving"
    if re.fullmatch(rf"{re.escape(problem.var)} = -?[\d.]+|-?[\d.]+ = {re.escape(problem.var)}", problem.equation):
        return f"{problem.equation!r} states a value; there is nothing to solve"
    return ""


def _same_when_reread(problem: Problem) -> str:
    """Re-render the equation and read it again: the stored text must mean the equation solved."""
    again = problem_from_equation(problem.equation, problem.fmt, problem.var)
    if again is None or (again.left, again.right) != (problem.left, problem.right):
        return f"{problem.equation!r} does not read back as the same equation"
    return ""


# -- intent --------------------------------------------------------------------------------------------
def _without_equation(mt: MathText, eq: Found) -> str:
    a, b = _span(eq)
    text = mt.mapped.text
    return (text[:a] + " " + text[b:]).replace(SLOT_WORD, " ")


def _intent(asked: str, var: str, mt: MathText) -> str:
    other = _NOT_SOLVING.search(_PRESENTED.sub(" ", asked))
    if other is not None:
        return f"the caller asks for something else ({other.group(0)!r})"
    if _INTENT.search(asked) or mt.placeholders or re.search(rf"\bfor\s+{re.escape(var)}\b", asked):
        return ""
    if not re.search(r"[A-Za-z]{2,}", without_presentation(asked)):
        return ""  # nothing but the equation (and how to present its answer): it asks to be solved
    return "no request to solve the equation"


def _variable(asked: str, mt: MathText, var: str) -> str:
    for slot in mt.placeholders:
        if slot != var:
            return f"the answer placeholder names {slot!r} but the equation's unknown is {var!r}"
    for m in _NAMED_VAR.finditer(asked):
        named = m.group(1)
        if named in _ARTICLES and not _NAMES_A_LETTER.match(asked, m.end()):
            continue  # "find a number ...": the article, not the unknown a
        if named != var and named.lower() != var:
            return f"the prompt asks for {named!r} but the equation's unknown is {var!r}"
    return ""
