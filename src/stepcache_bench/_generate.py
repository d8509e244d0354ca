"""Generators for the paper-shaped workload's two tasks (linear equations and JSON records).

Ground truth is computed from the numbers the generator chose (closures over exact fractions), never
by parsing the prompt it wrote, so a bug in a parser cannot make the truth agree with itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ._expr import as_decimal
from ._items import (
    ChatBody,
    EvaluationTruth,
    JsonTruth,
    LinearTruth,
    ProseTruth,
    QuadraticTruth,
    SystemTruth,
    WorkloadItem,
)

__all__ = ["linear_items", "json_items"]

F = Fraction
LinearFn = Callable[[Fraction], Fraction]

# -- linear equations --------------------------------------------------------------------------------

# e, i, l and o are avoided: they read as constants or digits.
_LETTERS = "xyztnkpqmabcdhrsuvw"
_TEMPLATES = (
    "Solve for {v}: {eq}. Show your work as numbered steps; the last line must state the value of {v}.",
    "Find {v} such that {eq}. Write the solution as numbered steps and finish with the value of {v}.",
    "What value of {v} satisfies {eq}? Explain in numbered steps, ending with the value of {v}.",
    "Solve the equation {eq} for {v}. Number each step, and give the value of {v} on the last line.",
    "Determine {v} from {eq}. Work through it in numbered steps; end by stating the value of {v}.",
    "Please solve {eq}. Use numbered steps and make the final line the value of {v}.",
)
_FORMATS = (
    ("fraction", "Give the answer as a fraction."),
    ("decimal", "Give the answer as a decimal."),
    ("fraction", "Write the final value as a fraction in lowest terms."),
    ("decimal", "Express the final value as a decimal number."),
)
_QUADRATIC = "Solve for {v}: {eq}. Show your work as numbered steps; the last line must state every value of {v}."
_EVALUATION = "Evaluate {expr} when {v} = {n}. Show your work as numbered steps; the last line must state the value."
_SYSTEM = (
    "Solve the system {eq1} and {eq2} for {v} and {w}. Show your work as numbered steps; "
    "the last lines must state the values of {v} and {w}."
)


def _lin(a: Fraction, v: str) -> str:
    if a == 1:
        return v
    if a == -1:
        return f"-{v}"
    return f"{as_decimal(a)}{v}"


def _signed(b: Fraction) -> str:
    if b == 0:
        return ""
    return f" + {as_decimal(b)}" if b > 0 else f" - {as_decimal(-b)}"


def _signed_lin(a: Fraction, v: str) -> str:
    if a == 0:
        return ""
    return f" + {_lin(a, v)}" if a > 0 else f" - {_lin(-a, v)}"


@dataclass(frozen=True)
class _Equation:
    """One linear equation, renderable with any variable letter."""

    form: int
    render: Callable[[str], tuple[str, str]]  # letter → (left side, right side)
    lhs: LinearFn
    rhs: LinearFn

    @property
    def solution(self) -> Fraction:
        d0 = self.lhs(F(0)) - self.rhs(F(0))
        slope = self.lhs(F(1)) - self.rhs(F(1)) - d0
        return -d0 / slope

    def text(self, v: str) -> str:
        left, right = self.render(v)
        return f"{left} = {right}"


def _sample_equation(rng: random.Random, form: int, integer: bool) -> _Equation:
    integer = integer or form == 2  # v/a + b = c has integer solutions only
    for _ in range(1000):
        eq = _try_form(rng, form, integer)
        if eq is None:
            continue
        x = eq.solution
        wanted = x.denominator == 1 if integer else x.denominator in (2, 4, 5)
        if wanted and abs(x) <= 40:
            return eq
    raise AssertionError(f"cannot sample form {form}")  # pragma: no cover - ranges always admit one


def _try_form(rng: random.Random, form: int, integer: bool) -> _Equation | None:
    r = rng.randint
    if form == 0:  # a·v + b = c
        a, b, c = F(r(2, 9)), F(r(1, 20)), F(r(-10, 60))
        return _Equation(form, lambda v: (f"{_lin(a, v)}{_signed(b)}", as_decimal(c)), lambda x: a * x + b, lambda x: c)
    if form == 1:  # a(v - b) + c = d
        a, b, c, d = F(r(2, 6)), F(r(1, 9)), F(r(1, 15)), F(r(-10, 50))
        return _Equation(
            form,
            lambda v: (f"{as_decimal(a)}({v} - {as_decimal(b)}){_signed(c)}", as_decimal(d)),
            lambda x: a * (x - b) + c,
            lambda x: d,
        )
    if form == 2:  # v/a + b = c (always an integer solution)
        a, b = F(r(2, 8)), F(r(1, 12))
        c = b + rng.choice((-3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9))
        return _Equation(
            form, lambda v: (f"{v}/{as_decimal(a)}{_signed(b)}", as_decimal(c)), lambda x: x / a + b, lambda x: c
        )
    if form == 3:  # (a·v + b)/c = d
        a, b, c, d = F(r(2, 7)), F(r(1, 15)), F(r(2, 5)), F(r(1, 12))
        return _Equation(
            form,
            lambda v: (f"({_lin(a, v)}{_signed(b)})/{as_decimal(c)}", as_decimal(d)),
            lambda x: (a * x + b) / c,
            lambda x: d,
        )
    if form == 4:  # a·v + b = c·v + d
        a = F(r(3, 9))
        c, b = F(r(1, int(a) - 1)), F(r(1, 20))
        d = b + r(1, 60)
        return _Equation(
            form,
            lambda v: (f"{_lin(a, v)}{_signed(b)}", f"{_lin(c, v)}{_signed(d)}"),
            lambda x: a * x + b,
            lambda x: c * x + d,
        )
    if form == 5:  # decimals: 0.5k + 1.5 = 4
        p = rng.choice((F(1, 2), F(3, 2), F(5, 2), F(1, 4), F(1, 5)))
        q = F(r(1, 9), 2)
        x = F(r(1, 12)) if integer else F(2 * r(0, 8) + 1, 2)
        rhs = p * x + q
        return _Equation(
            form, lambda v: (f"{_lin(p, v)}{_signed(q)}", as_decimal(rhs)), lambda y: p * y + q, lambda y: rhs
        )
    # form 6: a - b·v = c
    a, b, c = F(r(10, 40)), F(r(2, 9)), F(r(-10, 30))
    return _Equation(
        form, lambda v: (f"{as_decimal(a)} - {_lin(b, v)}", as_decimal(c)), lambda x: a - b * x, lambda x: c
    )


def _pick(rng: random.Random, pool: Sequence[Any], k: int) -> list[Any]:
    """``k`` distinct picks while the pool lasts, then repeats (k may exceed the pool)."""
    picks = rng.sample(list(pool), min(k, len(pool)))
    while len(picks) < k:
        picks.append(rng.choice(list(pool)))
    return picks


def _user(content: str, max_tokens: int | None) -> ChatBody:
    return ChatBody(messages=({"role": "user", "content": content},), max_tokens=max_tokens)


def _adder(
    items: list[WorkloadItem], seed: int, task: str
) -> Callable[[str, str, str | None, ChatBody, Any, bool], None]:
    """``add(id, perturbation, base id, request, truth, semantic)``: append one item of ``task`` to ``items``.

    Each item names the family that should claim it: the task's own (``linear``, ``json``) unless the
    variant is semantic — a quadratic, an evaluation, a system or a prose request is none of the
    specialised families' business, so ``generic``.
    """

    def add(ident: str, perturbation: str, base: str | None, body: ChatBody, truth: Any, semantic: bool) -> None:
        items.append(
            WorkloadItem(
                id=ident,
                seed=seed,
                task=task,
                perturbation=perturbation,
                base_id=base,
                semantic=semantic,
                request=body,
                truth=truth,
                family="generic" if semantic else task,
            )
        )

    return add


def linear_items(rng_seed: int, seed: int, n_bases: int, k: int, max_tokens: int | None) -> list[WorkloadItem]:
    rng = random.Random(rng_seed)
    forms = [i % 7 for i in range(n_bases)]
    rng.shuffle(forms)
    items: list[WorkloadItem] = []
    add = _adder(items, seed, "linear")

    def item(ident: str, perturbation: str, base: str | None, prompt: str, truth: Any, semantic: bool) -> None:
        add(ident, perturbation, base, _user(prompt, max_tokens), truth, semantic)

    def truth(eq: _Equation, v: str, fmt: str = "any") -> LinearTruth:
        return LinearTruth(variable=v, solution=_fraction(eq.solution), format=fmt, equation=eq.text(v))  # type: ignore[arg-type]

    for i, form in enumerate(forms):
        v = rng.choice("xyztnkp")
        eq = _sample_equation(rng, form, integer=rng.random() < 0.6)
        template = rng.randrange(2)
        base_id = f"s{seed}-lin-{i:02d}"
        item(base_id, "base", None, _TEMPLATES[template].format(v=v, eq=eq.text(v)), truth(eq, v), False)

        seen = {eq.text(v)}
        for j in range(k):
            for _ in range(100):  # a different equation of the same form
                other = _sample_equation(rng, form, integer=rng.random() < 0.6)
                if other.text(v) not in seen:
                    break
            seen.add(other.text(v))
            prompt = _TEMPLATES[template].format(v=v, eq=other.text(v))
            item(f"{base_id}-constants-{j}", "constants", base_id, prompt, truth(other, v), False)
        for j, w in enumerate(_pick(rng, [c for c in _LETTERS if c != v], k)):
            prompt = _TEMPLATES[template].format(v=w, eq=eq.text(w))
            item(f"{base_id}-rename-{j}", "rename", base_id, prompt, truth(eq, w), False)
        others = [t for t in range(len(_TEMPLATES)) if t != template]
        for j, t in enumerate(_pick(rng, others, k)):
            prompt = _TEMPLATES[t].format(v=v, eq=eq.text(v))
            item(f"{base_id}-paraphrase-{j}", "paraphrase", base_id, prompt, truth(eq, v), False)
        for j, (fmt, sentence) in enumerate(_pick(rng, _FORMATS, k)):
            prompt = _TEMPLATES[template].format(v=v, eq=eq.text(v)) + " " + sentence
            item(f"{base_id}-format-{j}", "format", base_id, prompt, truth(eq, v, fmt), False)
        kinds = ["quadratic", "evaluation", "system"]
        start = rng.randrange(3)
        for j in range(k):
            kind = kinds[(start + j) % 3]
            prompt, semantic_truth = _semantic_linear(rng, kind, eq, v)
            item(f"{base_id}-semantic-{j}", "semantic", base_id, prompt, semantic_truth, True)
    return items


def _fraction(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _semantic_linear(rng: random.Random, kind: str, eq: _Equation, v: str) -> tuple[str, Any]:
    """A request that looks like the base but is not a linear equation in one variable any more."""
    if kind == "quadratic":
        r1, r2 = rng.sample([n for n in range(-6, 10) if n != 0], 2)
        text = f"{v}^2{_signed_lin(F(-(r1 + r2)), v)}{_signed(F(r1 * r2))} = 0"
        roots = tuple(sorted({str(r1), str(r2)}))
        return _QUADRATIC.format(v=v, eq=text), QuadraticTruth(variable=v, roots=roots, equation=text)
    if kind == "evaluation":
        n = F(rng.randint(1, 9))
        expression = eq.render(v)[0]
        prompt = _EVALUATION.format(expr=expression, v=v, n=as_decimal(n))
        return prompt, EvaluationTruth(value=_fraction(eq.lhs(n)), expression=expression)
    w = "y" if v != "y" else "z"
    x, y = F(rng.randint(-3, 9)), F(rng.randint(-3, 9))
    while True:
        a1, b1, a2, b2 = (F(rng.choice((1, 2, 3, 4, 5, -1, -2, -3))) for _ in range(4))
        if a1 * b2 - a2 * b1 != 0 and a1 > 0 and a2 > 0:
            break
    eq1 = f"{_lin(a1, v)}{_signed_lin(b1, w)} = {as_decimal(a1 * x + b1 * y)}"
    eq2 = f"{_lin(a2, v)}{_signed_lin(b2, w)} = {as_decimal(a2 * x + b2 * y)}"
    solution = {v: _fraction(x), w: _fraction(y)}
    prompt = _SYSTEM.format(eq1=eq1, eq2=eq2, v=v, w=w)
    return prompt, SystemTruth(solution=solution, equations=(eq1, eq2))


# -- JSON records -----------------------------------------------------------------------------------

_FIRST = ("Ada", "Grace", "Alan", "Maria", "Omar", "Lena", "Ravi", "Chen", "Sofia", "Tomas", "Amara", "Kenji")
_LAST = ("Lovelace", "Hopper", "Turing", "Garcia", "Haddad", "Berg", "Patel", "Wei", "Rossi", "Baker", "Okafor")
_CITIES = (
    ("Lisbon", "Portugal", "Europe"),
    ("Nairobi", "Kenya", "Africa"),
    ("Osaka", "Japan", "Asia"),
    ("Toronto", "Canada", "North America"),
    ("Lima", "Peru", "South America"),
    ("Perth", "Australia", "Oceania"),
    ("Krakow", "Poland", "Europe"),
    ("Austin", "United States", "North America"),
)
_PRODUCTS = ("Trail Running Shoe", "Espresso Grinder", "Desk Lamp", "Wireless Mouse", "Yoga Mat", "Cast Iron Pan")
_BOOKS = ("The Quiet Harbor", "Winter of Glass", "Paper Engines", "A Map of Salt", "The Last Orchard", "Iron Lanterns")

Ctx = dict[str, Any]
ValueFn = Callable[[random.Random, Ctx], Any]


def _name(_: random.Random, c: Ctx) -> str:
    return f"{c['first']} {c['last']}"


def _money(rng: random.Random, _: Ctx) -> float:
    return round(rng.randint(5, 300) + rng.choice((0.0, 0.49, 0.99, 0.5)), 2)


def _choice(*pool: Any) -> ValueFn:
    return lambda rng, _: rng.choice(pool)


def _int(lo: int, hi: int) -> ValueFn:
    return lambda rng, _: rng.randint(lo, hi)


# kind → (key, JSON type, synonym used by rename_key, value). The first key is the record's name.
_KINDS: dict[str, tuple[tuple[str, str, str, ValueFn], ...]] = {
    "user": (
        ("name", "string", "full_name", _name),
        ("age", "integer", "age_years", _int(18, 79)),
        ("email", "string", "email_address", lambda r, c: f"{c['first'].lower()}.{c['last'].lower()}@example.com"),
        ("city", "string", "home_city", lambda r, c: c["city"][0]),
        ("active", "boolean", "is_active", _choice(True, False)),
        ("country", "string", "nation", lambda r, c: c["city"][1]),
        ("occupation", "string", "job_title", _choice("nurse", "engineer", "teacher", "chef", "pilot")),
    ),
    "product": (
        ("name", "string", "product_name", lambda r, c: c["product"]),
        ("price", "number", "unit_price", _money),
        ("category", "string", "product_category", _choice("sports", "kitchen", "office", "electronics")),
        ("in_stock", "boolean", "available", _choice(True, False)),
        ("sku", "string", "product_code", lambda r, c: f"SKU-{r.randint(1000, 9999)}"),
        ("brand", "string", "maker", _choice("Northwind", "Acme", "Globex", "Initech")),
        ("weight_kg", "number", "weight", lambda r, c: r.randint(1, 50) / 10),
    ),
    "book": (
        ("title", "string", "book_title", lambda r, c: c["book"]),
        ("author", "string", "writer", _name),
        ("year", "integer", "published_year", _int(1850, 2023)),
        ("pages", "integer", "page_count", _int(90, 900)),
        ("genre", "string", "category", _choice("mystery", "fantasy", "history", "poetry", "science")),
        ("isbn", "string", "isbn13", lambda r, c: f"978-{r.randint(1000000000, 9999999999)}"),
        ("publisher", "string", "imprint", _choice("Harbor House", "Blue Fern", "Oakline")),
    ),
    "order": (
        ("order_id", "string", "id", lambda r, c: f"ORD-{r.randint(1000, 9999)}"),
        ("customer", "string", "customer_name", _name),
        ("total", "number", "amount", _money),
        ("status", "string", "order_status", _choice("pending", "shipped", "delivered", "cancelled")),
        ("items", "integer", "item_count", _int(1, 12)),
        ("currency", "string", "currency_code", _choice("EUR", "USD", "GBP", "JPY")),
        ("paid", "boolean", "is_paid", _choice(True, False)),
    ),
    "city": (
        ("name", "string", "city_name", lambda r, c: c["city"][0]),
        ("country", "string", "country_name", lambda r, c: c["city"][1]),
        ("population", "integer", "inhabitants", _int(50_000, 9_000_000)),
        ("area_km2", "number", "area", lambda r, c: r.randint(500, 30000) / 10),
        ("capital", "boolean", "is_capital", _choice(True, False)),
        ("continent", "string", "region", lambda r, c: c["city"][2]),
        ("founded", "integer", "year_founded", _int(800, 1900)),
    ),
}
_JSON_TEMPLATES = (
    "Return a JSON object describing this {kind}. {pairs}. Required keys: {keys}.",
    "Produce a JSON object for the following {kind}: {pairs}. Required keys: {keys}.",
    "Give me this {kind} as a JSON object. {pairs}. Required keys: {keys}.",
    "Convert the {kind} below into a JSON object. {pairs}. Required keys: {keys}.",
    "Output only a JSON object representing this {kind}. {pairs}. Required keys: {keys}.",
)
_PROSE_TEMPLATES = (
    "Describe this {kind} in two sentences of plain prose, not JSON. {pairs}.",
    "Write a short paragraph (plain English, no JSON) about this {kind}. {pairs}.",
    "In one or two sentences of prose, summarise this {kind}. Do not use JSON. {pairs}.",
)


def _context(rng: random.Random) -> Ctx:
    return {
        "first": rng.choice(_FIRST),
        "last": rng.choice(_LAST),
        "city": rng.choice(_CITIES),
        "product": rng.choice(_PRODUCTS),
        "book": rng.choice(_BOOKS),
    }


def _render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value).removesuffix(".0")
    return str(value)


@dataclass
class _Record:
    kind: str
    fields: list[tuple[str, str, Any]]  # (key as asked, JSON type, value)
    ctx: Ctx  # the person/city/... the values were drawn from, so an added key stays consistent

    def pairs(self) -> str:
        return "; ".join(f"{key}: {_render_value(value)}" for key, _, value in self.fields)

    def keys(self) -> list[str]:
        return [key for key, _, _ in self.fields]


def _values(rng: random.Random, kind: str, keys: Sequence[str]) -> _Record:
    ctx = _context(rng)
    spec = {key: (json_type, fn) for key, json_type, _, fn in _KINDS[kind]}
    return _Record(kind, [(key, spec[key][0], spec[key][1](rng, ctx)) for key in keys], ctx)


def _json_body(record: _Record, template: str, style: str, max_tokens: int | None) -> tuple[ChatBody, JsonTruth]:
    keys = record.keys()
    prompt = template.format(kind=record.kind, pairs=record.pairs(), keys=", ".join(keys))
    response_format: dict[str, Any] | None = None
    if style == "schema":
        schema = {
            "type": "object",
            "properties": {key: {"type": json_type} for key, json_type, _ in record.fields},
            "required": keys,
            "additionalProperties": False,
        }
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": record.kind, "schema": schema, "strict": True},
        }
    elif style == "object":
        response_format = {"type": "json_object"}
    body = ChatBody(
        messages=({"role": "user", "content": prompt},), response_format=response_format, max_tokens=max_tokens
    )
    expected = {key: value for key, _, value in record.fields}
    return body, JsonTruth(required_keys=tuple(keys), expected=expected, additional_keys=style != "schema")


def json_items(rng_seed: int, seed: int, n_bases: int, k: int, max_tokens: int | None) -> list[WorkloadItem]:
    rng = random.Random(rng_seed)
    kinds = [list(_KINDS)[i % len(_KINDS)] for i in range(n_bases)]
    rng.shuffle(kinds)
    items: list[WorkloadItem] = []
    item = _adder(items, seed, "json")

    for i, kind in enumerate(kinds):
        spec = _KINDS[kind]
        all_keys = [key for key, _, _, _ in spec]
        keys = [all_keys[0], *rng.sample(all_keys[1:], rng.choice((2, 3)))]
        style = ("schema", "object", "prompt")[i % 3]
        template = rng.randrange(2)
        base = _values(rng, kind, keys)
        base_id = f"s{seed}-json-{i:02d}"
        item(base_id, "base", None, *_json_body(base, _JSON_TEMPLATES[template], style, max_tokens), False)

        for j in range(k):
            record = _values(rng, kind, keys)
            body, truth = _json_body(record, _JSON_TEMPLATES[template], style, max_tokens)
            item(f"{base_id}-values-{j}", "values", base_id, body, truth, False)
        remaining = [key for key in all_keys if key not in keys]
        for j, extra in enumerate(_pick(rng, remaining, k)):
            json_type, fn = next((t, f) for key, t, _, f in spec if key == extra)
            record = _Record(kind, [*base.fields, (extra, json_type, fn(rng, base.ctx))], base.ctx)
            body, truth = _json_body(record, _JSON_TEMPLATES[template], style, max_tokens)
            item(f"{base_id}-add_key-{j}", "add_key", base_id, body, truth, False)
        synonyms = {key: synonym for key, _, synonym, _ in spec}
        for j, renamed in enumerate(_pick(rng, keys, k)):
            fields = [(synonyms[key] if key == renamed else key, t, value) for key, t, value in base.fields]
            body, truth = _json_body(_Record(kind, fields, base.ctx), _JSON_TEMPLATES[template], style, max_tokens)
            item(f"{base_id}-rename_key-{j}", "rename_key", base_id, body, truth, False)
        others = [t for t in range(len(_JSON_TEMPLATES)) if t != template]
        for j, t in enumerate(_pick(rng, others, k)):
            body, truth = _json_body(base, _JSON_TEMPLATES[t], style, max_tokens)
            item(f"{base_id}-paraphrase-{j}", "paraphrase", base_id, body, truth, False)
        for j, t in enumerate(_pick(rng, range(len(_PROSE_TEMPLATES)), k)):
            prompt = _PROSE_TEMPLATES[t].format(kind=kind, pairs=base.pairs())
            prose = ProseTruth(mentions=(str(base.fields[0][2]),))
            item(f"{base_id}-semantic-{j}", "semantic", base_id, _user(prompt, max_tokens), prose, True)
    return items
