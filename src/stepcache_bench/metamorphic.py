"""Metamorphic rewrites of workload items: wrappers keep a request's meaning, mutations change it.

A cache that is right only on the prompts it was built around is not a product. People and
applications wrap the same question in personas, format requests, markdown, LaTeX, code fences,
greetings and JSON skeletons; none of that changes what a right answer is, so none of it may change
StepCache's answer (invariance). A request whose meaning changed — a JSON key of another meaning, an
equation with a second unknown or a squared term — must never be served from the original's entry
(direction). Both are written from how requests look in the wild, not from StepCache's parsers.

* A :class:`Wrapper` (``WRAPPERS``) rewrites an item without changing its meaning. It declares the
  truth kinds it applies to (``kinds``) and a ``group``: wrappers of one group rewrite the same thing
  (the notation of the maths, the key list, the answer's presentation), so a chain takes at most one
  of each. The wrapped item gets the id ``<id>~<wrapper>``, ``perturbation="wrap:<name>"``
  (``wrap:a+b`` for a chain), ``base_id`` = the original's id, ``semantic=False`` (its meaning is its
  base's) and the same ``family``. Its ``truth`` is the original's, except where a wrapper changes
  what a right answer looks like: a caller's "only the final number", ``\\boxed{}`` or "round to 2
  decimal places" (:class:`~stepcache_bench.workload.LinearTruth` ``answer`` / ``boxed`` /
  ``places``), or a response format that forbids or allows extra keys (``additional_keys``).
* A :class:`Mutation` (``MUTATIONS``) changes the meaning: ``id`` ``<id>~<mutation>``,
  ``perturbation="mutate:<name>"``, ``semantic=True``, ``family`` the family that should claim the
  new request, and the new request's own truth where it can be computed exactly (``None`` where it
  cannot). ``adaptable`` mutations change only constants (the request is still the same kind of
  task): StepCache may serve them from the original's entry *adapted* — never the original's answer
  itself; the others may not be served by reuse from the original's entry at all.

Every rewrite is deterministic given its :class:`random.Random`. :func:`wrapped_workload` builds a
workload of originals first (they fill the cache), then every wrapped and mutated variant, shuffled.
:class:`~stepcache_bench.oracle.Oracle` answers such a workload from its truths (``stepcache bench --oracle``).

Wrappers, in the order a chain applies them: ``answer_line``, ``system_format``, ``latex``,
``unicode_ops``, ``json_skeleton``, ``key_bullets``, ``response_format``, ``instruction_first``,
``markdown``, ``code_fence``, ``politeness``, ``whitespace``, ``persona``, ``multi_turn``.
Mutations: ``swap_key``, ``variable_once``, ``square_term``, ``percent_coefficient`` (adaptable),
``stale_constant`` (adaptable).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

# importing the mutations registers them in MUTATIONS
from ._mutations import percent_coefficient, square_term, stale_constant, swap_key, variable_once
from ._rewrite import (
    ANY_KIND,
    MATH_KINDS,
    MUTATIONS,
    WRAPPERS,
    Mutation,
    Wrapper,
    key_list,
    key_types,
    kind_of,
    math_spans,
    schema_format,
    split_sentences,
    task_of,
    with_messages,
    with_system,
    with_task,
    wrapper,
)
from .workload import EvaluationTruth, JsonTruth, LinearTruth, SystemTruth, WorkloadItem

__all__ = [
    "Wrapper",
    "Mutation",
    "WRAPPERS",
    "MUTATIONS",
    "MATH_KINDS",
    "ANY_KIND",
    "kind_of",
    "applicable_wrappers",
    "applicable_mutations",
    "wrap_chain",
    "wrapped_workload",
    # wrappers
    "answer_line",
    "system_format",
    "latex",
    "unicode_ops",
    "json_skeleton",
    "key_bullets",
    "response_format",
    "instruction_first",
    "markdown",
    "code_fence",
    "politeness",
    "whitespace",
    "persona",
    "multi_turn",
    # mutations
    "swap_key",
    "variable_once",
    "square_term",
    "percent_coefficient",
    "stale_constant",
]

# -- wrappers: the answer's presentation ----------------------------------------------------------


@wrapper("answer_line", kinds=("linear", "evaluation", "system"), group="presentation")
def answer_line(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """An answer-format line with a placeholder: "End with the line `x = <value>`", "x = ?",
    "Final answer: [answer]". The placeholder is not a value; the truth is unchanged."""
    truth = item.truth
    if isinstance(truth, LinearTruth):
        if truth.answer != "steps" or truth.boxed or truth.places is not None:
            return None
        v = truth.variable
        lines: tuple[str, ...] = (
            f"End with the line `{v} = <value>`.",
            f"Last line: {v} = ?",
            f"Final answer: {v} = [answer]",
            f"Write the last line as {v} = ...",
            f"Answer format: {v} = ___",
        )
    elif isinstance(truth, EvaluationTruth):
        lines = ("Final answer: [answer]", "End with: Answer = <value>", "Result = ?")
    elif isinstance(truth, SystemTruth):
        names = list(truth.solution)
        lines = (
            f"End with the lines `{names[0]} = <value>` and `{names[-1]} = <value>`.",
            "Final answer: " + ", ".join(f"{n} = ?" for n in names),
        )
    else:
        return None
    joiner = rng.choice((" ", "\n", "\n\n"))
    return with_task(item, task_of(item).rstrip() + joiner + rng.choice(lines))


@wrapper("system_format", kinds=("linear", "json"), group="presentation")
def system_format(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """The caller's system prompt asks for a presentation: "only the final number", "put the final
    answer in \\boxed{}", "round to 2 decimal places" — the truth's ``answer`` / ``boxed`` /
    ``places`` follow it, so it still describes a right answer. JSON: "the JSON object only"."""
    truth = item.truth
    if isinstance(truth, JsonTruth):
        return with_system(
            item,
            rng.choice(
                (
                    "Respond with the JSON object only: no prose before or after it.",
                    "You are called by a program that parses your reply as JSON. Reply with JSON only.",
                )
            ),
        )
    if not isinstance(truth, LinearTruth) or truth.answer != "steps" or truth.boxed or truth.places is not None:
        return None
    solution = Fraction(truth.solution)
    options: list[tuple[str, dict[str, Any]]] = [
        ("Output only the final number, nothing else.", {"answer": "final"}),
        ("Reply with only the final numeric answer: no steps, no words.", {"answer": "final"}),
        ("Put the final answer in \\boxed{}.", {"boxed": True}),
        ("Always write the final answer as \\boxed{value}.", {"boxed": True}),
    ]
    if truth.format != "fraction":  # "as a fraction" and "rounded" cannot both hold
        for places in (2, 3):
            scaled = solution * 10**places
            if (scaled * 2).denominator != 1 or (scaled * 2).numerator % 2 == 0:  # not a tie: rounding is unambiguous
                options.append((f"Round the final answer to {places} decimal places.", {"places": places}))
                break
    sentence, change = rng.choice(options)
    return with_system(item, sentence, truth=truth.model_copy(update=change))


# -- wrappers: notation --------------------------------------------------------------------------


def _to_latex(expression: str, times: str) -> str:
    text = re.sub(r"\(([^()]*)\)\s*/\s*(\d+(?:\.\d+)?)", r"\\frac{\1}{\2}", expression)
    text = re.sub(r"(?<![\w.])([A-Za-z]|\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"\^(\d+)", r"^{\1}", text)
    if times:
        text = re.sub(r"(\d)\s*(?=[A-Za-z(])", lambda m: f"{m.group(1)} {times} ", text)
    return text


@wrapper("latex", kinds=MATH_KINDS, group="notation")
def latex(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """The maths in LaTeX: ``$\\frac{x}{4} + 2 = 5$``, ``3 \\cdot x`` or ``3 \\times x`` for a product,
    ``x^{2}``; inline as ``$...$`` or ``\\(...\\)``."""
    spans = math_spans(item)
    if not spans:
        return None
    times = rng.choice(("", "\\cdot", "\\times"))
    left, right = rng.choice((("$", "$"), ("\\(", "\\)"), ("$", "$")))
    task = task_of(item)
    for span in spans:
        task = task.replace(span, f"{left}{_to_latex(span, times)}{right}", 1)
    return with_task(item, task)


def _to_unicode(expression: str, times: str) -> str:
    text = re.sub(r"(?<=\s)-(?=\s)", "−", expression)
    text = re.sub(r"(^|[(=\s])-(?=[\w(])", r"\1−", text)
    text = re.sub(r"\s*/\s*", " ÷ ", text)
    if times:
        text = re.sub(r"(\d)(?=[A-Za-z(])", lambda m: m.group(1) + times, text)
    return text.replace("^2", "²")


@wrapper("unicode_ops", kinds=MATH_KINDS, group="notation")
def unicode_ops(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """Unicode operators as word processors and phones type them: − for minus, × or ⋅ for a product,
    ÷ for a division, ² for a square."""
    times = rng.choice(("×", "⋅", ""))
    task = task_of(item)
    changed = False
    for span in math_spans(item):
        new = _to_unicode(span, times)
        if new == span:  # nothing but an implicit product to rewrite: make it explicit
            new = _to_unicode(span, "×")
        changed |= new != span
        task = task.replace(span, new, 1)
    return with_task(item, task) if changed else None


# -- wrappers: the JSON keys ---------------------------------------------------------------------


_EMPTY: dict[str | None, Any] = {"string": "", "integer": 0, "number": 0.0, "boolean": False, None: None}


@wrapper("json_skeleton", kinds=("json",), group="keys")
def json_skeleton(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """The keys as a skeleton to fill in — ``{"name": "", "age": 0}`` — instead of a list (the list's
    sentence is replaced; without one the skeleton is appended)."""
    truth = item.truth
    if not isinstance(truth, JsonTruth) or not truth.required_keys:
        return None
    types = key_types(item, truth)
    style = rng.choice(("empty", "null", "dots"))
    skeleton = {k: _EMPTY[t] if style == "empty" else None if style == "null" else "..." for k, t in types.items()}
    shown = json.dumps(skeleton) if rng.random() < 0.5 else json.dumps(skeleton, indent=2)
    lead = rng.choice(("Fill in this JSON:", "Return it in this shape:", "Use this template:"))
    task = task_of(item)
    where = key_list(task, truth.required_keys)
    if where is None:
        return with_task(item, f"{task.rstrip()}\n{lead}\n{shown}")
    rest = task[where.end :].lstrip()
    return with_task(item, f"{task[: where.start]}{lead}\n{shown}" + (f"\n{rest}" if rest else ""))


@wrapper("key_bullets", kinds=("json",), group="keys")
def key_bullets(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """The required keys as a bulleted list, one per line, instead of a comma-separated list."""
    truth = item.truth
    if not isinstance(truth, JsonTruth):
        return None
    task = task_of(item)
    where = key_list(task, truth.required_keys)
    if where is None:
        return None
    bullet = rng.choice(("-", "*", "•"))
    listed = "\n".join(f"{bullet} {k}" for k in truth.required_keys)
    rest = task[where.end :].lstrip()
    lead = where.lead.rstrip(":").strip() or "Keys"
    return with_task(item, f"{task[: where.start]}{lead}:\n{listed}" + (f"\n{rest}" if rest else ""))


@wrapper("response_format", kinds=("json",), group="response_format")
def response_format(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """Another way of asking for JSON: ``json_schema`` (derived from the truth's keys and value
    types; extra keys then forbidden), ``json_object`` or plain text (the prompt asks for JSON)."""
    truth = item.truth
    if not isinstance(truth, JsonTruth):
        return None
    current = (item.request.response_format or {}).get("type", "text")
    style = rng.choice([s for s in ("json_schema", "json_object", "text") if s != current])
    task = task_of(item)
    if style == "json_schema":
        return with_task(
            item,
            task,
            response_format=schema_format("record", key_types(item, truth)),
            truth=truth.model_copy(update={"additional_keys": False}),
        )
    if style == "text" and "json" not in task.casefold():
        task = task.rstrip() + " Reply with a JSON object."
    rf = {"type": "json_object"} if style == "json_object" else None
    return with_task(item, task, response_format=rf, truth=truth.model_copy(update={"additional_keys": True}))


# -- wrappers: layout ----------------------------------------------------------------------------


@wrapper("instruction_first", kinds=ANY_KIND, group="order")
def instruction_first(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """The instructions before the task instead of after it ("Show your work ... Solve 3x + 5 = 20.")."""
    parts = split_sentences(task_of(item))
    if len(parts) < 2:
        return None
    joiner = rng.choice((" ", "\n\n", "\n"))
    return with_task(item, " ".join(parts[1:]) + joiner + parts[0])


@wrapper("markdown", kinds=ANY_KIND, group="markdown")
def markdown(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """Markdown around the task: a heading, the equation or key list in bold, or the sentences as bullets."""
    task = task_of(item)
    variants: list[str] = [
        f"{rng.choice(('## Task', '### Question', '# Request'))}\n\n{task}",
    ]
    spans = math_spans(item)
    if spans:
        variants.append(task.replace(spans[0], f"**{spans[0]}**", 1))
    if isinstance(item.truth, JsonTruth) and (where := key_list(task, item.truth.required_keys)):
        listed = task[where.list_start : where.list_end]
        variants.append(f"{task[: where.list_start]}**{listed}**{task[where.list_end :]}")
    parts = split_sentences(task)
    if len(parts) >= 2:
        variants.append("\n".join(f"- {s}" for s in parts))
    return with_task(item, rng.choice(variants))


@wrapper("code_fence", kinds=ANY_KIND, group="fence")
def code_fence(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """A code fence around the task (with a lead-in line), or around the equation alone."""
    task = task_of(item)
    spans = math_spans(item)
    if spans and rng.random() < 0.5:
        span = spans[0]
        at = task.index(span)
        after = task[at + len(span) :]
        if not after.startswith("?"):  # "satisfies 3x + 5 = 20?" reads badly with a fence: fence it all
            after = after[1:] if after.startswith(".") else after
            return with_task(item, f"{task[:at].rstrip()}\n```\n{span}\n```\n{after.lstrip()}".rstrip())
    lead = rng.choice(("Here is the task:", "Please handle the request below.", "Task:"))
    language = rng.choice(("", "text", "markdown"))
    return with_task(item, f"{lead}\n\n```{language}\n{task}\n```")


@wrapper("politeness", kinds=ANY_KIND, group="politeness")
def politeness(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """Greetings and thanks around the request: "Hi! Could you please help me with this? ... Thanks!"."""
    opener = rng.choice(
        (
            "Hi! Could you please help me with this?",
            "Hello there, could you help me out?",
            "Hey, quick one for you:",
            "Good morning! I'd really appreciate your help with this.",
            "",
        )
    )
    closer = rng.choice(("Thanks a lot!", "Thank you so much :)", "Much appreciated.", "Thanks in advance!", ""))
    if not opener and not closer:
        opener = "Hi! Could you please help me with this?"
    text = task_of(item).strip()
    return with_task(item, " ".join(part for part in (opener, text, closer) if part))


@wrapper("whitespace", kinds=ANY_KIND, group="whitespace")
def whitespace(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """Leading and trailing whitespace and newlines, as text pasted from elsewhere carries."""
    before = rng.choice(("\n", "\n\n", "  ", "\t", " \n"))
    after = rng.choice(("\n", "\n\n\n", "   ", " \n", "\r\n"))
    return with_task(item, f"{before}{task_of(item)}{after}")


# -- wrappers: the conversation ------------------------------------------------------------------

_PERSONAS = {
    "math": (
        "You are a patient math tutor.",
        "You are a helpful assistant. Be accurate and concise.",
        "You are StepBot, the homework helper of a tutoring app. Double-check your arithmetic.",
    ),
    "json": (
        "You are a data-entry assistant for a CRM.",
        "You are a helpful assistant that produces clean data.",
        "You convert customer records for an inventory system.",
    ),
    "other": (
        "You are a helpful assistant.",
        "You are a friendly, knowledgeable assistant.",
        "You are an assistant for a small business. Keep answers short.",
    ),
}


@wrapper("persona", kinds=ANY_KIND, group="persona")
def persona(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """A caller's system prompt giving the assistant a persona (a tutor, a data-entry assistant)."""
    kind = kind_of(item)
    group = "math" if kind in MATH_KINDS else "json" if kind == "json" else "other"
    return with_system(item, rng.choice(_PERSONAS[group]))


_SMALL_TALK = (
    ("Hi!", "Hello! How can I help you today?"),
    ("I have a question for you.", "Sure, go ahead."),
    ("Can you help me with something?", "Of course! What do you need?"),
)


@wrapper("multi_turn", kinds=ANY_KIND, group="turns")
def multi_turn(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """A greeting turn and the assistant's reply before the real question."""
    greeting, reply = rng.choice(_SMALL_TALK)
    messages = list(item.request.messages)
    at = next((i for i, m in enumerate(messages) if m.get("role") != "system"), len(messages))
    messages[at:at] = [{"role": "user", "content": greeting}, {"role": "assistant", "content": reply}]
    return with_messages(item, messages)


# -- workloads -----------------------------------------------------------------------------------


def applicable_wrappers(item: WorkloadItem, wrappers: Iterable[Wrapper] = WRAPPERS.values()) -> list[Wrapper]:
    return [w for w in wrappers if w.applies(item)]


def applicable_mutations(item: WorkloadItem, mutations: Iterable[Mutation] = MUTATIONS.values()) -> list[Mutation]:
    return [m for m in mutations if m.applies(item)]


def wrap_chain(item: WorkloadItem, chain: Sequence[Wrapper], rng: random.Random) -> WorkloadItem | None:
    """``item`` through every wrapper of ``chain`` in :data:`WRAPPERS` order; ``None`` when one cannot
    apply or two rewrite the same thing (one group)."""
    groups = [w.group for w in chain]
    if len(set(groups)) != len(groups):
        return None
    order = list(WRAPPERS)
    current: WorkloadItem | None = item
    for wrap in sorted(chain, key=lambda w: order.index(w.name) if w.name in order else len(order)):
        current = wrap(current, rng) if current is not None else None
    return current


def wrapped_workload(
    items: Sequence[WorkloadItem],
    rng: random.Random,
    wrappers: Iterable[Wrapper] = WRAPPERS.values(),
    mutations: Iterable[Mutation] = MUTATIONS.values(),
    *,
    per_item: int | None = None,
) -> list[WorkloadItem]:
    """``items`` (in their order, so the cache holds each original first), then their variants shuffled:
    every applicable wrapper (or ``per_item`` of them, drawn by ``rng``) and every applicable mutation
    of each item. Deterministic for a given ``rng`` state."""
    wrappers, mutations = list(wrappers), list(mutations)
    variants: list[WorkloadItem | None] = []
    for item in items:
        usable = applicable_wrappers(item, wrappers)
        if per_item is not None:
            usable = rng.sample(usable, min(per_item, len(usable)))
        variants += [w(item, rng) for w in usable]
        variants += [m(item, rng) for m in applicable_mutations(item, mutations)]
    made = [v for v in variants if v is not None]
    rng.shuffle(made)
    return [*items, *made]
