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
from ._question import RELATION_WORDS

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
    return _without_framing(text)


#: Words that address the assistant: a block holding one talks *about* the problem, not in it.
_ADDRESS = frozenset(
    "you your yours me my i i'm we us our please pls thanks thank thx hi hello hey help could would can "
    "dear cheers appreciate appreciated".split()
)
#: Words that could add to, or bend, what is asked: a block holding one is never framing.
_INSTRUCTS = frozenset(
    "count counting also include including includes assume assuming suppose supposing ignore ignoring "
    "consider considering instead besides additionally if unless except excluding round estimate convert "
    "express answer answers result results only exactly approximately".split()
)
#: Relation words that, in a block with no quantity, name no quantity or operation ("brought this
#: home from school", "thank you so much", "work it out").
_IDLE_RELATIONS = frozenset("from to much by up out".split())
_BLOCK_BREAK = re.compile(r"\n[ \t]*\n|\n(?=[ \t]*#)|(?<=\n)(?=[ \t]*#)")
_HEADING = re.compile(r"^\s*#{1,6}\s+\S")
_LABEL = re.compile(r"^\s*(?:\*\*)?([A-Za-z]+(?: [A-Za-z]+)?)(?:\*\*)?\s*:(?:\*\*)?\s+(?=\S)")
_WORDS = re.compile(r"[a-z]+(?:['’][a-z]+)?")


def _without_framing(text: str) -> str:
    """``text`` without what only frames the problem: a heading, a leading label ("Question:"), and
    blocks (paragraphs) before or after it that address the assistant ("Hi! Could you help me with
    this one?", "Please show your work.", "Thanks a lot :)") and hold no quantity, no relation word
    and no instruction. The model still reads the whole request; only the reading that matches it
    with cached problems leaves the frame out, so a greeting does not make the problem another one.
    A block inside the problem, or one that could change what is asked, is always kept."""
    blocks = [b for b in _BLOCK_BREAK.split(text) if b.strip()]
    kept = len(blocks)
    while len(blocks) > 1 and _framing(blocks[0]):
        blocks.pop(0)
    while len(blocks) > 1 and _framing(blocks[-1]):
        blocks.pop()
    core = "\n\n".join(b.strip() for b in blocks) if len(blocks) < kept else text
    label = _LABEL.match(core)
    if label and not (set(_WORDS.findall(label[1].lower())) & (_INSTRUCTS | RELATION_WORDS)):
        core = core[label.end() :]
    core = core.strip()
    if core.startswith("**") and core.endswith("**") and "**" not in core[2:-2]:
        core = core[2:-2].strip()  # the whole problem in bold
    if core == text:
        return text  # no frame: question_of has already checked this text
    found = numbers_in(core)
    if not _ASKS.search(core) or len(found) < 2 or not any(not n.word for n in found):
        return text.strip()  # the "frame" held the problem after all: keep everything
    return core


def _framing(block: str) -> bool:
    words = set(_WORDS.findall(block.lower()))
    if _HEADING.match(block):
        return not numbers_in(block) and not words & (_INSTRUCTS | RELATION_WORDS)
    if not words & _ADDRESS or words & _INSTRUCTS or (words - _IDLE_RELATIONS) & RELATION_WORDS:
        return False
    # "this one" is a pronoun, not a quantity; any other number keeps the block.
    return all(n.word and n.text.lower() == "one" for n in numbers_in(block))


def split_lines(text: str) -> list[str]:
    """A solution's lines as the model wrote them (blank lines and code fences dropped), so an answer
    served as the model gave it reads as it did; what is checked is each line's plain form."""
    return [line.rstrip() for line in text.splitlines() if line.strip() and not _FENCE.match(line)]
