"""Which requests are arithmetic word problems, and how a solution's text becomes lines.

A request is taken when its one user turn is prose that states at least two quantities (one in
digits) and asks for a quantity — a question mark, or *how many / how much / calculate / find /
what is* — and nothing in it asks for something other than a worked answer: no ``response_format``,
no code, no equation with a letter (the ``linear`` family's), no instruction about the answer's
form (``only the number``, ``in JSON``, ``round to``), which one cached derivation could not honour.
Anything else is declined and falls to the next family.
"""

from __future__ import annotations

import re

from ..._types import ChatRequest
from ._numbers import numbers_in

__all__ = ["question_of", "split_lines"]

_ASKS = re.compile(
    r"\?|\b(?:how\s+(?:many|much|long|far|old|often)|calculate|compute|find|determine|work\s+out|"
    r"what\s+(?:is|was|will|are|were)\s+the)\b",
    re.IGNORECASE,
)
#: Requests about the form of the answer, or about something other than solving the problem.
_DECLINE = re.compile(
    r"`|\(\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*\)|\bslope\b|\bderivative|\bintegral|\bmatrix|"
    r"\bjust\s+(?:the\s+)?(?:value|number|answer|result)|\bjson\b|\bcode\b|\bpython\b|\bfunction\b|\btranslate|\bsummar|\brewrite|\bparaphrase|"
    r"\bonly\s+(?:the\s+)?(?:final\s+)?(?:answer|number|result)|"
    r"\bno\s+(?:explanation|steps|working)|\bround(?:ed)?\s+to\b|\bboxed\b|\bformat\b|\brespond\s+with\b|"
    r"\banswer\s+with\b|\bin\s+(?:french|spanish|german|italian|chinese|japanese)\b|"
    r"\bexplain\s+(?:what|why|how|the\s+(?:idea|concept|difference))\b|(?:^|[.!?]\s+)why\b|"
    r"\btrue\s+or\s+false\b|\bmultiple\s+choice\b|\b[A-D]\)\s",
    re.IGNORECASE,
)
#: Algebra, not a word problem: an equation, an inequality, or a one-letter unknown next to an
#: operator (``3x + 5``, ``5 - n``, ``2(y + 1)``). "a", "I" and a "t-shirt" are words.
_ALGEBRA = re.compile(
    r"=|[\d)]\s*[<>≤≥]|[<>≤≥]\s*[\d(]|[<>≤≥]\s*[b-hj-zB-HJ-Z]\b|\b\d+[b-hj-z]\b"
    r"|(?<![\w-])[b-hj-zB-HJ-Z]\s*[-+*/^]\s*[\d(]"
    r"|[\d)]\s*[-+*/^]\s*[b-hj-zB-HJ-Z](?![\w-])"
)
_FENCE = re.compile(r"^\s*```")
_MIN_WORDS = 10


def question_of(request: ChatRequest) -> str | None:
    """The word problem ``request`` asks to solve, or ``None`` when it is not one."""
    if request.response_format is not None:
        return None
    users = [m.content for m in request.messages if m.role == "user"]
    if len(users) != 1 or any(m.role == "assistant" for m in request.messages):
        return None  # a conversation's later turns depend on what was said before
    text = users[0].strip()
    if len(text.split()) < _MIN_WORDS or not _ASKS.search(text):
        return None
    if _DECLINE.search(text) or _DECLINE.search(request.system) or _ALGEBRA.search(text):
        return None
    found = numbers_in(text)  # ratio words count: "half as many bugs as the 50 ants"
    if len(found) < 2 or not any(not n.word for n in found):
        return None
    return text


def split_lines(text: str) -> list[str]:
    """A solution's lines as the model wrote them (blank lines and code fences dropped), so an answer
    served as the model gave it reads as it did; what is checked is each line's plain form."""
    return [line.rstrip() for line in text.splitlines() if line.strip() and not _FENCE.match(line)]
