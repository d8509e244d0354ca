"""The ``linear`` family: one linear equation in one variable, solved step by step.

Accepted requests (see ``_read.py``; read from the content, not the wording)
    One user turn holds exactly one equation that is linear in one single-letter unknown with a
    unique solution, and the caller wants it solved: a solve-type verb, a question, an answer
    placeholder (``x = ?``, ``x = <value>``, ``[answer]``, ``{x}``) or a message that is only the
    equation; later turns may follow up in words. Before parsing, ``_text.py`` maps what people type
    onto ASCII math — unicode signs (``−``, ``×``, ``÷``, ``½``, ``x²``), LaTeX (``$…$``, ``\\frac``,
    ``\\cdot``, ``\\left(``), markdown and code fences, numbers in the writer's locale (``2,500``,
    ``0,5``; undecidable ones decline), ``n% of x`` and ``1/2x`` (= ``(1/2)x``) — and remembers where
    each character came from. Grammar::

        equation := expr "=" expr
        expr     := term (("+" | "-") term)*
        term     := unary (("*" | "/") unary | implicit)*     implicit: 3x, 4(y - 2), x(2 + 1)
        unary    := ("+" | "-") unary | power
        power    := atom ("^" unary)?                         only constant ^ integer
        atom     := number | letter | "(" expr ")"            numbers: 12, 0.5, .5

    The equation read must be the equation written: mapped back onto the prompt, every digit and
    letter of its span is one of its tokens, every number reads the same in the prompt's locale, and
    nothing that could continue it (a digit, an operator, ``%``, "twice", "of", "dozen") touches it.
    Not accepted (detect returns None, so other families may take the request): powers or products
    of the variable, a second unknown or equation, the unknown in another expression, inequalities,
    "evaluate/substitute/if x = 2" requests, identities and contradictions, any JSON response_format,
    and presentations the family cannot write (a language, a percentage, code, one sentence).

Presentation (``_present.py``)
    The caller's system prompt is kept (ours follows it). What the caller asks for — only the final
    number, ``\\boxed{}``, rounded to N places, a fraction or a decimal, explained steps — is applied
    when the verified steps are rendered, so one cached derivation serves every presentation of the
    same equation (explained steps are cached apart: their prose cannot be written from equations).

Verification rules (every step, exactly, with :class:`fractions.Fraction`)
    * Every equation in a step (a chain ``a = b = c`` is read pairwise) must have exactly the
      original solution set: a single solution equal to the original one. An equation without the
      variable must be true arithmetic (``20 - 5 = 15``). Identities (``3x = 3x``), contradictions,
      non-linear or unreadable equations fail.
    * A step without any equation is allowed only as short prose — at most 25 words and no value
      stated in words ("the answer is 6") — because nothing in it can be checked.
    * The last step must be ``v = value`` (a "So," / "Answer:" lead-in is tolerated) with the
      exact solution spelled in the requested format: ``7/2`` for default/fraction, ``3.5`` for
      decimal (a non-terminating decimal answer is written as the reduced fraction).
    A step without an equation also fails when it states a value ("x ≈ 3.3", "we get 6").

Reuse
    A cached answer is adapted, not just re-checked: at store time every number of every step gets
    a formula over the cached equation's constants and earlier numbers (a constant, an earlier
    number, a negation, or one ``+ - * /``), chosen so the step still verifies for perturbed
    constants. A look-alike request with the same equation shape (``4y + 7 = 31`` for
    ``3x + 5 = 20``) is then answered by evaluating those formulas, renaming the variable and
    re-writing the final line in the requested format — no model call. Pure-arithmetic lines
    (``Check: 3(5) + 5 = 20``) are left out of answers adapted to new constants: verification can
    show them true but not relevant. A line that new constants make repeat a later one
    (``x = 40/5``, ``x = 8`` → ``x = 73/5`` twice) is said once, and verification rejects any
    repeated step.
    When a step still fails, only the block from the first failing step is regenerated; when the
    model keeps failing, :meth:`LinearFamily.fallback` writes a solution that always verifies.
"""

from ._family import LinearFamily

__all__ = ["LinearFamily"]
