"""Re-rendering a cached solution for new constants and a new variable name.

At store time (:func:`prepare`) every number of every cached step becomes a *slot* with a formula over
*atoms*: the cached equation's constants and the values of earlier slots. Candidates are tried in a
fixed preference order (a constant, an earlier slot, a negation, then one ``+ - * /`` between two
atoms); a coincidence (``2x + 4 = 10 → 2x = 6``: is 6 ``10 - 4`` or ``2 + 4``?) is settled by
re-deriving the step for two perturbed versions of the cached equation and keeping the first
combination of formulas that verifies for both. At request time (:func:`adapt`) the formulas are
evaluated with the new constants — a handful of Fraction operations per step.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from ._parse import find_equations, normalise, number, strip_numbering, tokenize
from ._problem import Problem, check_step, decimal_text, final_value, problem_from_equation, render_value, terminating

__all__ = ["PREPARED_VERSION", "prepare", "adapt", "quantities", "step_key", "without_repeats"]

#: Bump when the shape of the prepared data changes; older data is recomputed on the fly.
PREPARED_VERSION = 1

_ARTICLES = frozenset({"a", "A", "I"})  # single letters that are also English words
_MAX_CANDIDATES = 12
_MAX_COMBINATIONS = 300  # per cached answer: bounds store time when a step cannot be adapted at all
_RECENT_STEPS = 2  # slots of this many earlier steps are atoms (intermediate results live there)

Formula = list[Any]  # ["c", i] | ["s", j] | ["one"] | ["neg", atom] | [op, atom, atom] | ["lit"]
Piece = list[Any]  # ["t", text] | ["n", slot] | ["v"]


def _pieces(step: str, var: str, first_slot: int) -> tuple[list[Piece], list[str]]:
    """Split a step into text, number slots and variable occurrences."""
    text = normalise(strip_numbering(step))
    toks = tokenize(text)
    in_equation = {t.start for eq in find_equations(toks, var) for t in eq.toks}
    pieces: list[Piece] = []
    literals: list[str] = []
    for t in toks:
        if t.kind == "num":
            pieces.append(["n", first_slot + len(literals)])
            literals.append(t.text)
        elif t.kind == "let" and t.text == var and (t.start in in_equation or var not in _ARTICLES):
            pieces.append(["v"])
        elif pieces and pieces[-1][0] == "t":
            pieces[-1][1] += t.text
        else:
            pieces.append(["t", t.text])
    return pieces, literals


def _candidates(
    value: Fraction,
    atoms: Sequence[tuple[Formula, Fraction]],
    probes: Sequence[Sequence[Fraction | None]],
    guessed: frozenset[int] = frozenset(),
    whole: frozenset[int] = frozenset(),
) -> list[Formula]:
    """Formulas over ``atoms`` that give ``value``, in preference order.

    ``probes[n]`` are the atoms' values in perturbed variant ``n`` (``None`` for an atom whose
    value there is not known yet); formulas that behave identically in every variant are kept once,
    so the list is not crowded out by ``2 + 4``, ``4 + 2``, ``slot(6)``... all meaning "6".
    The atoms in ``guessed`` (slots of the same step) have provisional values only: a formula over
    them is never taken as a duplicate of one without them. ``-7a = -7`` from ``3a + 9 = 10a + 2``
    needs ``10 - 3`` and then ``9 - 2``; had the second been merged with "the slot before" (the
    guess makes them agree), no combination would re-derive the line for new constants.
    The atoms in ``whole`` are used as they are (or negated), never as an operand, and only after
    every other candidate: they are already results, and operations on them only add coincidences.
    """
    found: list[Formula] = []
    seen: set[tuple[object, ...]] = set()

    def offer(formula: Formula, key: tuple[object, ...] | None) -> None:
        if key is not None:
            if key in seen:
                return
            seen.add(key)
        found.append(formula)

    def probe(op: str, i: int, j: int) -> tuple[object, ...] | None:
        key: list[object] = [i in guessed or j in guessed]
        for values in probes:
            x, y = values[i], values[j]
            if x is None or y is None:
                return None  # depends on a slot of this step: cannot tell duplicates apart yet
            key.append(x if op == "id" else -x if op == "neg" else _apply(op, x, y))
        return tuple(key)

    def singles(atom_ids: Sequence[int]) -> None:
        for i in atom_ids:
            if atoms[i][1] == value:
                offer(atoms[i][0], probe("id", i, i))
        for i in atom_ids:
            v = atoms[i][1]
            if v and -v == value:
                offer(["neg", atoms[i][0]], probe("neg", i, i))

    plain = [i for i in range(len(atoms)) if i not in whole]
    singles(plain)
    where: dict[Fraction, list[int]] = {}
    for j in plain:
        where.setdefault(atoms[j][1], []).append(j)
    for op in "+-*/":
        for i in plain:
            fa, va = atoms[i]
            partner = _partner(op, va, value)  # the b with  va op b == value
            for j in where.get(partner, ()) if partner is not None else ():
                if len(found) >= _MAX_CANDIDATES:
                    break
                if op in "+*" and j < i:
                    continue  # commutative: a+b already tried as b+a
                offer([op, fa, atoms[j][0]], probe(op, i, j))
    # Last resort, past the cap: a multiplier that any value verifies must not turn into B = 0.
    singles([i for i in range(len(atoms)) if i in whole])
    return found + [["lit"]]


def _partner(op: str, a: Fraction, value: Fraction) -> Fraction | None:
    if op == "+":
        return value - a
    if op == "-":
        return a - value
    if op == "*":
        return value / a if a else None
    return a / value if value else None  # a / b == value; b == 0 never divides


def _apply(op: str, a: Fraction, b: Fraction) -> Fraction | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b else None


def quantities(problem: Problem) -> tuple[Fraction, ...]:
    """What a step's numbers are formulas over: the equation's constants as written, then the net
    coefficient ``A``, the net constant ``B`` (``A·v = B``) and the solution.

    A model that jumps from ``2(p - 2) + 2 = 24`` straight to ``2p = 26`` wrote ``B``, which is no
    single operation on the written constants; with ``A`` and ``B`` as atoms the line still adapts.
    ``["c", i]`` with ``i`` past the constants names these (prepared data stays valid: a template
    fixes the number of constants).
    """
    (a1, b1), (a2, b2) = problem.left, problem.right
    net_a, net_b = a1 - a2, b2 - b1
    return (*problem.constants, net_a, net_b, net_b / net_a)


def _eval(f: Formula, consts: Sequence[Fraction], vals: Sequence[Fraction], literal: Fraction) -> Fraction | None:
    kind = f[0]
    if kind == "c":
        return consts[f[1]] if f[1] < len(consts) else None
    if kind == "s":
        return vals[f[1]] if f[1] < len(vals) else None
    if kind == "lit":
        return literal
    if kind == "one":
        return Fraction(1)
    if kind == "neg":
        inner = _eval(f[1], consts, vals, literal)
        return None if inner is None else -inner
    a = _eval(f[1], consts, vals, literal)
    b = _eval(f[2], consts, vals, literal)
    return None if a is None or b is None else _apply(kind, a, b)


# -- rendering ---------------------------------------------------------------------------------
def _operand_end(s: str) -> bool:
    return bool(s) and (s[-1].isalnum() or s[-1] == ")")


def _emit(out: str, value: Fraction, decimal: bool, nxt: str) -> str:
    """Append ``value`` to ``out``, fixing what a sign or a fraction does to its neighbours."""
    mag = abs(value)
    if mag.denominator == 1:
        body = str(mag.numerator)
    elif decimal and terminating(mag):
        body = decimal_text(mag)
    else:
        body = f"{mag.numerator}/{mag.denominator}"
    coefficient = nxt[:1].isalpha() or nxt[:1] == "("
    stripped = out.rstrip()
    gap = out[len(stripped) :]
    last = stripped[-1:]
    tight = not gap and _operand_end(stripped)  # juxtaposed: implicit multiplication
    around = last in ("*", "/", "^") or nxt.lstrip()[:1] in ("*", "/", "^")
    if "/" in body and (around or coefficient or tight):
        body = f"({body})"
    if coefficient and body == "1" and not tight:
        body = ""  # 1x -> x, -1x -> -x
    if value >= 0:
        return out + body
    if last in ("-", "+"):
        before = stripped[:-1].rstrip()
        binary = _operand_end(before)
        if last == "-":  # a - -3 -> a + 3;  = --3 -> = 3
            return stripped[:-1] + ("+" if binary else "") + gap + body
        return stripped[:-1] + "-" + gap + body  # a + -3 -> a - 3
    if last in ("*", "/", "^") or tight:
        return out + f"(-{body or '1'})"
    return out + "-" + body


def _render(pieces: Sequence[Piece], vals: Sequence[Fraction], decimals: Sequence[bool], var: str) -> str:
    out = ""
    for i, piece in enumerate(pieces):
        kind = piece[0]
        if kind == "t":
            out += piece[1]
        elif kind == "v":
            out += var
        else:
            nxt = pieces[i + 1] if i + 1 < len(pieces) else ["t", ""]
            follow = var if nxt[0] == "v" else "0" if nxt[0] == "n" else nxt[1]
            out = _emit(out, vals[piece[1]], decimals[piece[1]], follow)
    return out.strip()


# -- prepare -----------------------------------------------------------------------------------
def _perturbations(problem: Problem) -> list[Problem]:
    """Two versions of the cached equation with every constant changed (same template)."""
    shifts = (3, 7, 2, 5, 11, 13, 17, 19, 23, 29, 31, 37)
    result: list[Problem] = []
    for scale, offset in ((1, 0), (2, 1), (3, 4), (5, 2)):
        values = [Fraction(c) * scale + shifts[(i + offset) % len(shifts)] for i, c in enumerate(problem.constants)]
        text = _substitute(problem, values)
        candidate = problem_from_equation(text, problem.fmt, problem.var)
        if candidate is not None and candidate.template == problem.template:
            result.append(candidate)
        if len(result) == 2:
            break
    return result


def _substitute(problem: Problem, values: Sequence[Fraction]) -> str:
    it = iter(zip(values, problem.literals, strict=True))
    out: list[str] = []
    for t in tokenize(problem.equation):
        if t.kind == "num":
            value, literal = next(it)
            out.append(decimal_text(value) if "." in literal and terminating(value) else str(value))
        else:
            out.append(t.text)
    return "".join(out)


def prepare(problem: Problem, steps: Sequence[str]) -> dict[str, Any]:
    """Slot formulas for every number of ``steps`` (JSON-serialisable; kept in ``Entry.prepared``)."""
    var = problem.var
    variants = _perturbations(problem)
    # The constant 1 is an atom too: "3x - x" is written "2x", i.e. 3 - 1 with the 1 left unwritten.
    const_atoms: list[tuple[Formula, Fraction]] = [(["c", i], c) for i, c in enumerate(quantities(problem))]
    const_atoms.append((["one"], Fraction(1)))
    derived = frozenset(range(len(problem.constants), len(const_atoms) - 1))  # A, B and the solution
    slots: list[dict[str, Any]] = []
    values: list[Fraction] = []  # cached value of every slot
    variant_values: list[list[Fraction]] = [[] for _ in variants]
    step_first_slot: list[int] = []
    budget = [_MAX_COMBINATIONS]
    out_steps: list[dict[str, Any]] = []
    for index, step in enumerate(steps):
        is_final = index == len(steps) - 1 and final_value(problem, step) is not None
        first = len(values)
        step_first_slot.append(first)
        pieces, literals = _pieces(step, var, first)
        window = step_first_slot[max(0, index - _RECENT_STEPS)]
        options: list[list[Formula]] = []
        # Slots of this step have no chosen formula yet; for telling duplicate candidates apart
        # they are assumed to follow their first preference (a guess, used for pruning only).
        provisional: list[list[Fraction]] = [list(vv) for vv in variant_values]
        for k, literal in enumerate(literals):
            value = number(literal)
            # earlier steps first: a guessed same-step slot must not shadow the real thing in dedup
            recent = [*range(first - 1, window - 1, -1), *range(first + k - 1, first - 1, -1)]
            atoms = const_atoms + [(["s", j], values[j]) for j in recent]
            probes: list[list[Fraction | None]] = [
                [*quantities(variant), Fraction(1), *(pv[j] for j in recent)]
                for variant, pv in zip(variants, provisional, strict=True)
            ]
            same_step = frozenset(range(len(const_atoms) + first - window, len(atoms)))
            opts = _candidates(value, atoms, probes, same_step, derived)
            options.append(opts)
            values.append(value)  # later slots of the same step may refer to this one
            for variant, pv in zip(variants, provisional, strict=True):
                guess = _eval(opts[0], quantities(variant), pv, value)
                pv.append(value if guess is None else guess)
        chosen, drop = _choose(
            problem, variants, pieces, literals, options, variant_values, first, is_final, step, budget
        )
        for formula, literal in zip(chosen, literals, strict=True):
            slots.append({"f": formula, "lit": literal})
        out_steps.append({"pieces": pieces, "final": is_final, "drop": drop})
    return {"version": PREPARED_VERSION, "template": problem.template, "var": var, "steps": out_steps, "slots": slots}


def _choose(
    problem: Problem,
    variants: Sequence[Problem],
    pieces: Sequence[Piece],
    literals: Sequence[str],
    options: Sequence[list[Formula]],
    variant_values: list[list[Fraction]],
    first: int,
    is_final: bool,
    step: str,
    budget: list[int],
) -> tuple[list[Formula], bool]:
    """The first combination of candidate formulas under which the step verifies for every variant,
    and whether the step must be dropped when adapting.

    A line of pure arithmetic (``Check: 3(5) + 5 = 15 + 5 = 20``) verifies under *any* consistent
    choice, so verification cannot tell its formulas apart: ``Check: 4(7) + 7 = 28 + 7 = 35`` is true
    for ``4y + 7 = 31`` and beside the point. Such a line is always dropped from adapted answers
    (its formulas are still chosen, for later lines that refer to its numbers).
    """
    decimals = [False] * first + ["." in lit for lit in literals]
    found = find_equations(tokenize(normalise(step)), problem.var)
    checkable = bool(options) and not is_final and bool(found) and bool(variants)
    arithmetic = checkable and not any(any(eq.mentions) for eq in found)
    best: list[Formula] | None = None
    if checkable:
        for combo in itertools.product(*options):
            if budget[0] <= 0:
                break
            budget[0] -= 1
            for n, variant in enumerate(variants):
                vals = _values_for(variant, combo, variant_values[n], literals)
                if vals is None:
                    break
                text = _render(pieces, [Fraction(0)] * first + vals, decimals, variant.var)
                if check_step(variant.var, variant.solution, text):
                    break
            else:
                best = list(combo)
                break
    return _commit(variants, best or [opts[0] for opts in options], variant_values, literals), arithmetic


def _commit(
    variants: Sequence[Problem], chosen: list[Formula], variant_values: list[list[Fraction]], literals: Sequence[str]
) -> list[Formula]:
    for n, variant in enumerate(variants):
        got = _values_for(variant, chosen, variant_values[n], literals)
        variant_values[n].extend(got if got is not None else [number(lit) for lit in literals])
    return chosen


def _values_for(
    problem: Problem, formulas: Sequence[Formula], earlier: Sequence[Fraction], literals: Sequence[str]
) -> list[Fraction] | None:
    vals = list(earlier)
    for formula, literal in zip(formulas, literals, strict=True):
        value = _eval(formula, quantities(problem), vals, number(literal))
        if value is None:
            return None
        vals.append(value)
    return vals[len(earlier) :]


# -- adapt -------------------------------------------------------------------------------------
def adapt(prepared: dict[str, Any], cached: Problem, problem: Problem) -> list[str]:
    """The cached steps re-rendered for ``problem`` (constants re-derived when the templates match)."""
    slots = prepared["slots"]
    same_shape = prepared["template"] == problem.template
    changed = problem.constants != cached.constants
    vals: list[Fraction] = []
    decimals: list[bool] = []
    given = quantities(problem)
    for slot in slots:
        literal = number(slot["lit"])
        value = _eval(slot["f"], given, vals, literal) if same_shape else literal
        vals.append(literal if value is None else value)
        decimals.append("." in slot["lit"])
    out: list[str] = []
    for step in prepared["steps"]:
        if step.get("drop") and same_shape and changed:
            continue
        if step["final"] and same_shape:
            out.append(f"{problem.var} = {render_value(problem.solution, problem.fmt)}")
        else:
            out.append(_render(step["pieces"], vals, decimals, problem.var))
    return without_repeats(out)


def step_key(step: str) -> str:
    """What makes two steps the same step: the text without numbering, spacing or case."""
    return re.sub(r"\s+", "", normalise(strip_numbering(step))).lower()


def without_repeats(steps: Sequence[str]) -> list[str]:
    """``steps`` with every step that a later step repeats left out.

    New constants can make two cached lines read the same (``x = 40/5`` then ``x = 8`` both become
    ``x = 73/5``). The later copy is kept so the final line stays last; every line is an equation
    equivalent to the original, so leaving one out never breaks the chain.
    """
    keys = [step_key(s) for s in steps]
    last = {k: i for i, k in enumerate(keys)}
    return [s for i, (s, k) in enumerate(zip(steps, keys, strict=True)) if last[k] == i]
