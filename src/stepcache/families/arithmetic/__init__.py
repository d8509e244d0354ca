"""The ``arithmetic`` family: multi-step arithmetic word problems, solved as a chain of calculations.

Accepted requests (``_read.py``)
    One user turn of prose that states at least two quantities and asks for one ("How many ...?",
    "Calculate ..."), with no ``response_format``, no code, no equation with a letter (``linear``'s)
    and no instruction about the answer's form. Tutoring and practice traffic asks the same problem
    with other names and numbers; this family reuses the *reasoning* of an earlier instance.

Steps and checks (``_calc.py``, ``_chain.py``)
    A step is a line of the solution; each calculation in it (``14 pounds/day * 150% = 21``,
    ``2(40 + 9) = 98``, ``$50/day * 24 days = $1200``) is read exactly with
    :class:`fractions.Fraction`: units dropped, ``%`` divided by 100, ``x``/``×``/``÷``/``times``
    understood. Verification: every result equals its expression; every other number is grounded (a
    quantity of the question or a form of it — ``40`` and ``60%`` for ``40%`` —, a ratio word such
    as *twice* or *a dozen*, an earlier result, or a unit constant such as 12, 60 or 365); the last
    line is ``The answer is N.`` with ``N`` a result. A number that cannot be grounded is a *doubt*:
    nothing proves it wrong, so such an answer is served but never stored.

Repair
    A result that is wrong while its operands are grounded is recomputed and the right value carried
    to the later lines that used the wrong one — an arithmetic slip costs no model call
    (:meth:`ArithmeticFamily.fix`). A carried solution that fails is regenerated from the first
    failing line with the verified lines as a prefix. A fresh answer is never sent back to the model:
    a miss sends the caller's request unchanged, and an answer that cannot be verified is served
    exactly as the model gave it — what the caller gets without a cache — and is not stored.

Reuse (``_question.py``, ``_chain.py``)
    At store time each number of the solution gets its *provenance* (which quantity, result, ratio
    word or constant it came from). A look-alike problem is aligned with the cached one word by word:
    the quantities must line up one to one and no relation word may change (more ↔ fewer,
    twice ↔ half, each ↔ total, gave ↔ got, the question asked) — otherwise it is a semantic change
    and answered fresh. Names and nouns that changed are renamed in the solution; every number is
    re-evaluated through its provenance. A number whose two possible sources now disagree stops the
    adaptation there and the rest is regenerated. A changed unit is a semantic change when the
    solution converts units.

Trust
    Arithmetic can be checked, reasoning cannot. With ``confirmations=1`` (the default) a template's
    solution is reused only after a second instance's independent answer agreed with the cached one
    carried to it; that second answer also narrows ambiguous provenance.
"""

from ._family import ArithmeticFamily

__all__ = ["ArithmeticFamily"]
