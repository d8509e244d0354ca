"""A word problem as the arithmetic family reads it, and how two problems line up.

:func:`read_question` finds the problem's quantities (its *slots*: numbers and cardinal words, in
order) and its ratio words (``twice``, ``half``, ``a dozen``). :func:`align` decides whether a cached
problem's solution can be carried to a new problem: the two texts are diffed word by word with every
quantity as a placeholder, and the change is a *new instance* only when

* the quantities line up one to one, in the same places (same count, same kind: ``40%`` stays a
  percentage, ``$5`` stays money) — an added, dropped or moved quantity is another problem;
* no word that carries the arithmetic changed: comparisons and directions (more ↔ fewer, gave ↔ got),
  ratio words (twice ↔ half), scope (each ↔ total, per ↔ in all), negation, and the question asked;
* whatever else changed is a replacement of names or nouns (``Jessica`` → ``Mary Ann``,
  ``troll`` → ``goblin``), returned as the renaming to apply to the solution's text.

A unit that changed (``weeks`` → ``months``) is returned too: it matters only when the solution uses
a conversion constant (7 days a week), which the adapter checks.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from fractions import Fraction

from ._numbers import Number, numbers_in

__all__ = [
    "Question",
    "Alignment",
    "read_question",
    "align",
    "free_after",
    "rename",
    "skeleton",
    "UNIT_WORDS",
    "RELATION_WORDS",
]

#: Words whose change changes the arithmetic. Lower case; plurals are folded by :func:`_fold`.
RELATION_WORDS = frozenset(
    """
    more less fewer than twice half double doubled triple tripled thrice quadruple third quarter fourth
    fifth dozen dozens pair pairs score each every per total all altogether together combined remaining
    remain remains left rest after before times percent percentage not no none never only except without
    but increase increased increases decrease decreased decreases discount off profit loss gain gained
    lose lost give gave given gives get got gets receive received spend spent spends save saved saves
    earn earned earns pay paid pays cost costs buy bought buys sell sold sells add added adds remove
    removed take took takes subtract plus minus divide divided split share shared equally evenly
    average difference sum product ratio rate faster slower older younger taller shorter bigger smaller
    larger longer higher lower cheaper expensive heavier lighter first second last other another both
    either how many much long far old what which who when where why whole part fraction
    out from among between by to up down rise rose risen fall fell fallen raise raised lower lowered drop
    dropped cut grow grew shrink shrank above below over under ahead behind early late earlier later
    faster slower win won borrow lend lent deposit withdraw arrive arrived leave entered exit join joined quit
    fill filled empty emptied break broke broken eat ate eaten use used keep kept double triple
    most least best worst cheapest biggest largest smallest highest lowest longest shortest oldest
    youngest fastest slowest same different new old extra twins triplets quadruplets quintuplets couple trio
    quartet duo solo single
    """.split()
)
#: Units whose conversion constants a solution may use (7 days in a week).
UNIT_WORDS = frozenset(
    """
    second minute hour day week month year decade century inch foot feet yard mile meter metre
    centimeter centimetre millimeter kilometer km cm mm ounce oz pound lb lbs gram kilogram kg ton tonne
    cent dollar penny pennies nickel dime liter litre milliliter ml gallon quart pint cup teaspoon
    tablespoon
    """.split()
)
_FILLER = frozenset({"a", "an", "the", "one"})
#: Words after which a changed word names what is counted or owned ("a bottle", "20 bananas",
#: "her vest"): renaming it does not change how anything is counted.
_DETERMINERS = frozenset(
    "a an the his her their my our your its this that these those of some with".split()
)  # "one third" vs "half": the ratio is the slot
_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")


@dataclass(frozen=True, slots=True)
class Question:
    """A word problem: its text, its varying quantities (``slots``) and its ratio words."""

    text: str
    slots: tuple[Number, ...]
    ratios: tuple[Number, ...]
    #: The text as alignment tokens: lower-case words, quantities as ``#`` (``#%``, ``$#``).
    tokens: tuple[str, ...]
    #: Unit constants the question's words make plausible (7 for a question about weeks).
    constants: frozenset[Fraction] = frozenset()
    #: Words written as proper names (capitalised inside a sentence), lower case.
    names: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Alignment:
    """Two problems of one template: the renaming of the old solution's words, and which renamed
    words are units."""

    renames: tuple[tuple[str, str], ...]
    units_changed: bool
    #: The currency sign to write instead of the cached one (``("$", "£")``), if it changed.
    currency: tuple[str, str] | None = None
    #: Positions (in the new problem's tokens) of the words that changed, and where each position
    #: of the old problem's tokens is in the new one (for words that did not change).
    changed: frozenset[int] = frozenset()
    moved: tuple[tuple[int, int], ...] = ()


def read_question(text: str) -> Question:
    found = numbers_in(text)
    slots = tuple(n for n in found if n.ratio != "count")
    ratios = tuple(n for n in found if n.ratio == "count")
    tokens: list[str] = []
    pos = 0
    for n in slots:
        tokens += [w.lower() for w in _WORD.findall(text[pos : n.start])]
        # Money stays money whatever the currency ($5 → £5 is a new instance, 5 → $5 is not); a
        # factor stays a factor (twice → 3 times), a part a part (half → a third).
        kind = {"times": "×", "part": "÷"}.get(n.ratio, "¤" if n.currency else "")
        tokens.append(f"{kind}#{'%' if n.percent else ''}")
        pos = n.end
    tokens += [w.lower() for w in _WORD.findall(text[pos:])]
    from ._chain import constants_for

    return Question(
        text=text, slots=slots, ratios=ratios, tokens=tuple(tokens), constants=constants_for(text), names=_names(text)
    )


#: Capitalised words that start sentences without naming anything.
_NOT_NAMES = frozenset(
    """
    a an the this that these those there then now so if when while as and but or also since because
    it its he she they we you i his her their our your my mr mrs ms dr one some any
    """.split()
)


def _names(text: str) -> frozenset[str]:
    """Names of people, places and things: words written capitalised ("Maya", "Mom's", "Oakwood").
    A capitalised word that starts a sentence counts unless it is a function word ("The", "If") or
    carries the arithmetic ("Each", "Half") — those can never be renamed."""
    found = set()
    for m in _WORD.finditer(text):
        word = m.group(0)
        lower = word.lower()
        if word[:1].isupper() and lower not in _NOT_NAMES and not _is_relation(lower):
            found.add(lower)
            found.add(_fold(word))
    return frozenset(found)


def _fold(word: str) -> str:
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2 and word[: -len(suffix)] + repl not in ("thi",):
            return word[: -len(suffix)] + repl
    return word


def skeleton(question: Question) -> tuple[str, ...]:
    """What every instance of a problem shares: its quantities' kinds and its relation words, in
    order (names and nouns dropped). Two problems :func:`align` can carry between have the same."""
    return tuple(t for t in question.tokens if "#" in t or _is_relation(t))


def _is_relation(word: str) -> bool:
    return word in RELATION_WORDS or _fold(word) in RELATION_WORDS


def _is_unit(word: str) -> bool:
    return word in UNIT_WORDS or _fold(word) in UNIT_WORDS


def align(old: Question, new: Question, free: frozenset[int] | None = None) -> Alignment | str:
    """The renaming that turns ``old`` into ``new``, or why the two are different problems.

    ``free`` are the positions of ``old``'s tokens known to vary between instances whose answers
    agreed (learned by confirmation): a word there may be replaced. Elsewhere only proper names may
    change. ``None`` allows any replacement of non-relation words (to compare two answers)."""
    if len(old.slots) != len(new.slots):
        return f"the problem has {len(new.slots)} quantities, the cached one {len(old.slots)}"
    matcher = difflib.SequenceMatcher(a=old.tokens, b=new.tokens, autojunk=False)
    renames: list[tuple[str, str]] = []
    changed: set[int] = set()
    moved: list[tuple[int, int]] = []
    units = False
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            moved += [(a0 + k, b0 + k) for k in range(a1 - a0)]
            continue
        before, after = old.tokens[a0:a1], new.tokens[b0:b1]
        numbers = [t for t in (*before, *after) if "#" in t]
        if numbers:
            return f"a quantity moved or changed kind ({' '.join(before) or '-'} → {' '.join(after) or '-'})"
        relations = [w for w in (*before, *after) if _is_relation(w)]
        if relations:
            return f"the relation changed ({' '.join(before) or '-'} → {' '.join(after) or '-'})"
        if op != "replace" and not all(w in _FILLER for w in (*before, *after)):
            return f"words were {'added' if op == 'insert' else 'removed'} ({' '.join(before or after)})"
        if op != "replace":
            continue
        names = all(w in old.names for w in before) and all(w in new.names for w in after)
        counted = len(before) <= 3 and len(after) <= 3 and _counted(old.tokens, a0) and _counted(new.tokens, b0)
        if free is not None and not names and not counted and not all(k in free for k in range(a0, a1)):
            return (
                f"{' '.join(before)} → {' '.join(after)}: a word changed where no confirmed instance "
                "differed (only names may change until one does)"
            )
        units = units or any(_is_unit(w) for w in (*before, *after))
        changed.update(range(b0, b1))
        if len(before) == len(after):
            renames += [(a, b) for a, b in zip(before, after) if a != b]
        else:
            renames.append((" ".join(before), " ".join(after)))
    signs = ({n.currency for n in old.slots if n.currency}, {n.currency for n in new.slots if n.currency})
    currency = None
    if signs[0] != signs[1]:
        if len(signs[0]) != 1 or len(signs[1]) != 1:
            return "the currencies changed"
        currency = (next(iter(signs[0])), next(iter(signs[1])))
    return Alignment(
        renames=tuple(dict.fromkeys(renames)),
        units_changed=units,
        currency=currency,
        changed=frozenset(changed),
        moved=tuple(moved),
    )


def _counted(tokens: tuple[str, ...], at: int) -> bool:
    """The word at ``at`` follows a quantity, an article or a possessive: it names a thing."""
    if at == 0:
        return False
    before = tokens[at - 1]
    return "#" in before or before in _DETERMINERS or before.endswith(("'s", "’s"))


def free_after(alignment: Alignment, free: frozenset[int]) -> frozenset[int]:
    """Positions of the new problem's tokens known to be free: what changed now, and what was free
    before, carried through the alignment."""
    carried = {b for a, b in alignment.moved if a in free}
    return frozenset(alignment.changed | carried)


def rename(text: str, renames: tuple[tuple[str, str], ...]) -> str:
    """Apply an alignment's renaming to a solution line: whole words, keeping capitals."""
    if not renames:
        return text
    table = {old: new for old, new in renames}
    pattern = re.compile(
        r"\b(" + "|".join(re.escape(old) for old in sorted(table, key=len, reverse=True)) + r")\b", re.IGNORECASE
    )

    def swap(m: re.Match[str]) -> str:
        new = table[m.group(0).lower()]
        word = m.group(0)
        if word[:1].isupper():
            return new[:1].upper() + new[1:]
        return new

    return pattern.sub(swap, text)
