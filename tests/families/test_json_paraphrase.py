"""Adaptation by content: a reworded instruction over the same record is a reuse; a change of meaning
is not.

Invariance: the record (the values) and the key set stay, the instruction is reworded however a
person might word it → the cached object is served, no model call. Direction: a negation, a selection
or computation, a format the cached values do not satisfy, a rival value nothing ties to its key, a
changed value, a replaced key → never served from the cache as it was.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepcache import MemoryStore, Route, ScriptedBackend, StepCache
from stepcache._types import ChatRequest, Entry, Scope
from stepcache.families import Task, steps_of
from stepcache.families.generic import GenericFamily
from stepcache.families.json_family import JsonFamily
from stepcache.families.json_family._keys import KeyNames

family = JsonFamily()


def task_of(prompt: str, system: str = "") -> Task:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    task = family.detect(ChatRequest.model_validate({"messages": messages}))
    assert task is not None, prompt
    return task


def cached(prompt: str, answer: dict[str, Any], system: str = "") -> Entry:
    task = task_of(prompt, system)
    steps = family.segment(task, json.dumps(answer))
    assert family.verify(task, steps).ok, family.verify(task, steps).summary()
    return Entry(
        key="k",
        scope=Scope("default", "m", "json"),
        signature=task.signature,
        prompt=prompt,
        task=dict(task.data),
        steps=tuple(steps),
        text="",
        embedding=np.zeros(4, dtype=np.float32),
        prepared=family.prepare(task, steps),
    )


def adapted(entry: Entry, prompt: str, system: str = "") -> dict[str, Any] | None:
    task = task_of(prompt, system)
    steps = steps_of(family.adapt(entry, family.load_task(entry.task), task))
    if steps is None:
        return None
    assert family.verify(task, steps).ok or not family.verify(task, steps).failing
    return json.loads(family.render(task, steps))  # type: ignore[no-any-return]


LABELLED = "Name: Maria Lopez\nEmail: maria.lopez@example.org\nPhone: +34 612 345 678\nSigned up: 9 April 2024"
PROSE = "Hi, I'm Priya Raman from Northwind Labs. Reach me at priya.raman@example.org or on +1 415 555 0134."
LABELLED_ANSWER = {
    "name": "Maria Lopez",
    "email": "maria.lopez@example.org",
    "phone": "+34 612 345 678",
    "signup_date": "2024-04-09",
}
PROSE_ANSWER = {"name": "Priya Raman", "email": "priya.raman@example.org", "phone": "+1 415 555 0134"}

PARAPHRASES = [
    "Return a JSON object with keys {keys}.\n\n{record}",
    "Can you pull the details out of this and give them back as JSON? Use the keys {keys}.\n\n{record}",
    "{record}\n\nTurn the above into a JSON record with fields {keys}.",
    "I need this as a JSON object: {keys}, please.\n\n{record}",
    "Parse the contact card below into JSON (keys: {keys}).\n\n{record}",
    "JSON only. Fields:\n{bullets}\n\n{record}",
    "Fill in {skeleton} from this:\n\n{record}",
    "Extract {keys_and} as JSON from the note below.\n\n{record}",
]


def _phrase(template: str, keys: list[str], record: str) -> str:
    return template.format(
        keys=", ".join(keys),
        record=record,
        bullets="\n".join(f"- {k}" for k in keys),
        skeleton=json.dumps({k: "" for k in keys}),
        keys_and=", ".join(keys[:-1]) + " and " + keys[-1],
    )


@pytest.mark.parametrize("base", range(len(PARAPHRASES)))
@pytest.mark.parametrize("new", range(len(PARAPHRASES)))
@pytest.mark.parametrize(
    ("record", "answer"), [(LABELLED, LABELLED_ANSWER), (PROSE, PROSE_ANSWER)], ids=["labelled", "prose"]
)
def test_a_reworded_instruction_over_the_same_record_is_reused_whole(
    base: int, new: int, record: str, answer: dict[str, Any]
) -> None:
    keys = list(answer)
    entry = cached(_phrase(PARAPHRASES[base], keys, record), answer)
    assert adapted(entry, _phrase(PARAPHRASES[new], keys, record)) == answer


# -- meaning changes are never served as they were -------------------------------------------------------

HEADERS = (
    "From: Olivia Grant <olivia.grant@contoso.com>\nTo: billing@acme.io\nSubject: Invoice 4471 overdue\n"
    "Date: Fri, 2 Feb 2024 10:14"
)


@pytest.mark.parametrize(
    ("cached_prompt", "answer", "new_prompt"),
    [
        pytest.param(
            "Return JSON with keys name, age for the person.\n\nAlice is 34, Bob is 28.",
            {"name": "Alice", "age": 34},
            "Return JSON with keys name, age for the second person.\n\nAlice is 34, Bob is 28.",
            id="selection",
        ),
        pytest.param(
            "Return JSON with keys name, age.\n\nAlice is 34, Bob is 28.",
            {"name": "Alice", "age": 34},
            "Return JSON with keys name, age for the oldest one.\n\nAlice is 34, Bob is 28.",
            id="computation",
        ),
        pytest.param(
            "Give JSON with keys name, status for the member.\n\nAlice: active member.",
            {"name": "Alice", "status": "active"},
            "Give JSON with keys name, status. Do not count active members.\n\nAlice: active member.",
            id="negation",
        ),
        pytest.param(
            "Return JSON with keys email, subject.\n\n" + HEADERS,
            {"email": "olivia.grant@contoso.com", "subject": "Invoice 4471 overdue"},
            "Give me the recipient's details as JSON, keys: email, subject.\n\n" + HEADERS,
            id="a_rival_value_nothing_ties_to_its_key",
        ),
        pytest.param(
            "Return JSON with keys name, city. Name: Maria Lopez. City: Seville.",
            {"name": "Maria Lopez", "city": "Seville"},
            "Return JSON with keys name, city, in uppercase. Name: Maria Lopez. City: Seville.",
            id="a_format_not_satisfied",
        ),
        pytest.param(
            "Return JSON with keys name, mood. Alice is happy.",
            {"name": "Alice", "mood": "happy"},
            "Return JSON with keys name, mood. Alice is not happy.",
            id="a_negated_record",
        ),
    ],
)
def test_a_change_of_meaning_is_not_reused(cached_prompt: str, answer: dict[str, Any], new_prompt: str) -> None:
    out = adapted(cached(cached_prompt, answer), new_prompt)
    assert out is None or out != answer


def test_a_format_the_cached_values_already_satisfy_asks_nothing_new() -> None:
    entry = cached(
        "Return JSON with keys subject, sent_date.\n\n" + HEADERS,
        {"subject": "Invoice 4471 overdue", "sent_date": "2024-02-02"},
    )
    out = adapted(entry, "Parse this header into JSON (subject, sent_date in ISO format YYYY-MM-DD).\n\n" + HEADERS)
    assert out == {"subject": "Invoice 4471 overdue", "sent_date": "2024-02-02"}


def test_a_reading_of_the_record_is_kept_but_what_the_model_invented_is_asked_again() -> None:
    record = "Nimbus Rain Jacket (SKU RJ-0871). Price: $89.50. Currently out of stock."
    answer = {"sku": "RJ-0871", "in_stock": False, "colour": "blue"}  # the colour is the model's invention
    entry = cached(f"Return JSON with keys sku, in_stock, colour.\n\n{record}", answer)
    out = adapted(entry, f"Parse this listing into JSON (keys: sku, in_stock, colour).\n\n{record}")
    assert out == {"sku": "RJ-0871", "in_stock": False}  # "out of stock" is in the record; blue is not


# -- generated: records, rewordings and replaced keys ----------------------------------------------------

FIELDS: dict[str, tuple[str, Any]] = {
    "name": ("Name", st.sampled_from(["Maria Lopez", "Kenji Haddad", "Grace Okafor", "Tomás Ortega"])),
    "email": ("Email", st.sampled_from(["ana.ruiz@example.org", "tom@fabrikam.jp", "li.wei@posteo.de"])),
    "phone": ("Phone", st.sampled_from(["+44 161 496 0321", "+1 415 555 0134", "(206) 555-0199"])),
    "city": ("City", st.sampled_from(["Seville", "Lisbon", "Osaka", "Leeds"])),
    "order_id": ("Order", st.sampled_from(["ORD-4821", "A-10293", "HC-68241"])),
    "total": ("Total", st.sampled_from([19.99, 129.0, 7.5, 1231.2])),
    "start_date": ("Start date", st.sampled_from(["2024-04-20", "2025-01-05"])),
    "quantity": ("Qty", st.integers(1, 40)),
}
VERBS = [
    "Return",
    "Give me",
    "Produce",
    "Output",
    "Extract",
    "Pull",
    "Convert this to",
    "Turn this into",
    "Parse this into",
    "Create",
    "I need",
    "Please send",
    "Could you make",
    "Write",
]
OBJECTS = ["a JSON object", "JSON", "the JSON", "a JSON record", "a small JSON document"]
KEY_STYLES = [
    "with keys {k}",
    "with the fields {k}",
    "(keys: {k})",
    "containing the keys {k}",
    "using these fields: {k}",
]
TAILS = ["", " please", ". Thanks!", ", nothing else", " for the record below", " from this"]


@st.composite
def requests(draw: Any) -> tuple[list[str], str, dict[str, Any]]:
    keys = draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=2, max_size=5, unique=True))
    answer = {k: draw(FIELDS[k][1]) for k in keys}
    record = draw(st.sampled_from(["\n", "; "])).join(
        f"{FIELDS[k][0]}: {answer[k]}" for k in draw(st.permutations(keys))
    )
    return keys, record, answer


@st.composite
def instructions(draw: Any, keys: list[str]) -> str:
    style = draw(st.sampled_from(KEY_STYLES)).format(k=", ".join(keys))
    return f"{draw(st.sampled_from(VERBS))} {draw(st.sampled_from(OBJECTS))} {style}{draw(st.sampled_from(TAILS))}."


@settings(max_examples=80, deadline=None)
@given(requests(), st.data())
def test_any_rewording_of_the_instruction_is_a_reuse_with_no_model_call(request: Any, data: Any) -> None:
    keys, record, answer = request
    first = data.draw(instructions(keys))
    second = data.draw(instructions(keys))
    backend = ScriptedBackend()
    cache = StepCache(backend, store=MemoryStore(), families=[JsonFamily(), GenericFamily()])
    backend.enqueue(json.dumps(answer))
    assert cache.complete({"messages": [{"role": "user", "content": f"{first}\n\n{record}"}]}).path is Route.MISS
    result = cache.complete({"messages": [{"role": "user", "content": f"{record}\n\n{second}"}]})
    assert result.path is Route.REUSE, result.detail
    assert json.loads(result.text) == answer and len(backend.calls) == 1


_NAMES = KeyNames()


@settings(max_examples=80, deadline=None)
@given(requests(), st.data())
def test_a_key_replaced_by_one_of_another_meaning_is_never_served_by_reuse(request: Any, data: Any) -> None:
    keys, _, _ = request
    spare = [k for k in sorted(FIELDS) if k not in keys]
    old = data.draw(st.sampled_from(keys))
    new = data.draw(st.sampled_from([k for k in spare if not _NAMES.renames(old, k)]))
    values = {k: data.draw(FIELDS[k][1]) for k in FIELDS}
    record = "\n".join(f"{FIELDS[k][0]}: {values[k]}" for k in FIELDS)  # the record holds every field
    before = [*keys]
    after = [new if k == old else k for k in keys]
    backend = ScriptedBackend()
    cache = StepCache(backend, store=MemoryStore(), families=[JsonFamily(), GenericFamily()])
    backend.enqueue(json.dumps({k: values[k] for k in before}))
    cache.complete(
        {"messages": [{"role": "user", "content": f"Return JSON with keys {', '.join(before)}.\n\n{record}"}]}
    )
    backend.enqueue(json.dumps({k: values[k] for k in after}))  # the model, asked for the new key
    result = cache.complete(
        {"messages": [{"role": "user", "content": f"Return JSON with keys {', '.join(after)}.\n\n{record}"}]}
    )
    served = json.loads(result.text)
    assert result.path is not Route.REUSE and served[new] == values[new]
