"""Key names: when a cached value may move to another key (a rename) and when the key was replaced.

A value moves only when the names mean the same thing — spelling, extension, abbreviation, initials,
aliases — or the new text labels the value with the new key. A replacement in the same slot
(``city`` → ``email``) carries nothing: the new key is asked of the model, never served the old value.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from stepcache import MemoryStore, Route, ScriptedBackend, StepCache
from stepcache._types import ChatRequest, Entry, Scope
from stepcache.families import steps_of
from stepcache.families.generic import GenericFamily
from stepcache.families.json_family import JsonFamily
from stepcache.families.json_family._keys import KeyNames

names = KeyNames()

# (cached key, new key): the same meaning, so the value moves.
RENAMES = [
    ("name", "full_name"),
    ("price", "price_usd"),
    ("dob", "date_of_birth"),
    ("firstName", "first_name"),
    ("email", "e_mail"),
    ("email", "email_address"),
    ("qty", "quantity"),
    ("zip", "postal_code"),
    ("phone", "mobile"),
    ("desc", "description"),
    ("amt", "amount"),
    ("id", "order_id"),
    ("city", "home_city"),
    ("age", "age_years"),
    ("active", "is_active"),
    ("brand", "manufacturer"),
    ("Total Pages", "total_pages"),
]

# (cached key, new key): another meaning in the same slot, so nothing moves.
REPLACEMENTS = [
    ("city", "email"),
    ("country_code", "email"),
    ("in_stock", "sku"),
    ("brand", "weight_g"),
    ("start_date", "end_date"),
    ("weight_kg", "weight_g"),
    ("price_usd", "price_eur"),
    ("active", "not_active"),
    ("age", "agent"),
    ("age", "years"),
    ("name", "email"),
    ("shipper", "shipper_city"),  # a property of the shipper, not the shipper
    ("customer", "customer_email"),
    ("sender_email", "sender_name"),
    ("title", "job_title"),
]


@pytest.mark.parametrize(("old", "new"), RENAMES)
def test_names_that_mean_the_same_are_renames(old: str, new: str) -> None:
    assert names.renames(old, new) and names.renames(new, old)


@pytest.mark.parametrize(("old", "new"), REPLACEMENTS)
def test_names_that_mean_something_else_are_replacements(old: str, new: str) -> None:
    assert not names.renames(old, new)


def test_callers_extend_the_alias_table() -> None:
    assert not names.renames("email", "inbox")
    extended = KeyNames([{"email", "inbox"}, {"sku", "article_number"}])
    assert extended.renames("email", "inbox") and extended.renames("contact_email", "contact_inbox")
    assert extended.renames("sku", "article_number")
    assert JsonFamily(aliases=[{"email", "inbox"}]).names.renames("inbox", "email")


@pytest.mark.parametrize(
    ("key", "schema", "kind"),
    [
        ("email", None, "email"),
        ("contact_email", None, "email"),
        ("start_time", None, "time"),
        ("time_zone", None, None),
        ("dob", None, "date"),
        ("created_at", None, "datetime"),
        ("phone_number", None, "phone"),
        ("is_active", None, "boolean"),
        ("in_stock", None, "boolean"),
        ("verified_email", None, None),  # a flag or an email: no kind, so no kind conflict
        ("price_usd", None, "money"),
        ("sku", None, "id"),
        ("country_code", None, "code"),
        ("qty", None, "number"),
        ("website", None, "url"),
        ("start_time", {"type": "string", "format": "date"}, "date"),  # the schema beats the name
        ("sku", {"type": "boolean"}, "boolean"),
        ("price", {"type": "string"}, None),  # a price "on request" is allowed
    ],
)
def test_a_key_implies_a_kind_and_a_schema_beats_the_name(key: str, schema: Any, kind: str | None) -> None:
    assert names.kind(key, schema) == kind


# -- adaptation: replacements never reuse the old value -------------------------------------------

family = JsonFamily()
TEMPLATE = "Return JSON with keys name, age, {key}. {record}"


def _task(prompt: str) -> Any:
    task = family.detect(ChatRequest.model_validate({"messages": [{"role": "user", "content": prompt}]}))
    assert task is not None, prompt
    return task


def _entry(prompt: str, answer: dict[str, Any]) -> Entry:
    task = _task(prompt)
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


# (old key, its value, new key, the new key's value): the record holds both values.
SLOT_CHANGES = [
    ("city", "Seville", "email", "maria.lopez@example.org"),
    ("country_code", "ES", "email", "maria.lopez@example.org"),
    ("city", "Seville", "phone", "+34 612 345 678"),
    ("email", "maria.lopez@example.org", "city", "Seville"),
    ("start_date", "2024-04-20", "end_date", "2024-04-22"),
]
RECORD = (
    "Maria Lopez, 34, lives in Seville (ES). Reach her at maria.lopez@example.org or +34 612 345 678. "
    "Stay from 2024-04-20 to 2024-04-22."
)


@pytest.mark.parametrize(("old", "old_value", "new", "new_value"), SLOT_CHANGES)
def test_a_replaced_key_is_left_to_the_model(old: str, old_value: str, new: str, new_value: str) -> None:
    entry = _entry(TEMPLATE.format(key=old, record=RECORD), {"name": "Maria Lopez", "age": 34, old: old_value})
    task = _task(TEMPLATE.format(key=new, record=RECORD))
    steps = steps_of(family.adapt(entry, family.load_task(entry.task), task))
    adapted = json.loads(family.render(task, steps or []))
    assert adapted.get(new) != old_value  # never served under the new name
    assert new not in adapted
    assert family.verify(task, steps or []).problems == (f"missing required key {new!r}",)


def test_a_rename_carries_its_value() -> None:
    entry = _entry(
        TEMPLATE.format(key="email", record=RECORD),
        {"name": "Maria Lopez", "age": 34, "email": "maria.lopez@example.org"},
    )
    task = _task(TEMPLATE.format(key="email_address", record=RECORD))
    steps = steps_of(family.adapt(entry, family.load_task(entry.task), task))
    assert json.loads(family.render(task, steps or []))["email_address"] == "maria.lopez@example.org"
    assert family.verify(task, steps or []).ok


def test_a_value_moves_to_a_key_the_new_text_labels_it_with() -> None:
    """brand → maker is no rename by name, but the new record says "maker: Acme"."""
    cached = "Return JSON. Required keys: name, brand. name: Desk Lamp; brand: Acme."
    entry = _entry(cached, {"name": "Desk Lamp", "brand": "Acme"})
    task = _task("Return JSON. Required keys: name, maker. name: Desk Lamp; maker: Acme.")
    steps = steps_of(family.adapt(entry, family.load_task(entry.task), task))
    assert json.loads(family.render(task, steps or [])) == {"name": "Desk Lamp", "maker": "Acme"}


def test_a_label_that_names_both_keys_is_not_evidence() -> None:
    """ "From:" holds the sender's name and address alike: it does not move the address to sender_name."""
    record = "From: Olivia Grant <olivia.grant@contoso.com>\nSubject: Invoice 4471 overdue"
    entry = _entry(
        f"Extract sender_email and subject as JSON.\n\n{record}",
        {"sender_email": "olivia.grant@contoso.com", "subject": "Invoice 4471 overdue"},
    )
    task = _task(f"Extract sender_name and subject as JSON.\n\n{record}")
    steps = steps_of(family.adapt(entry, family.load_task(entry.task), task))
    assert "sender_name" not in json.loads(family.render(task, steps or []))


# -- end to end: a replaced key is patched with a call for that key only --------------------------


@pytest.mark.parametrize(("old", "old_value", "new", "new_value"), SLOT_CHANGES)
def test_through_the_engine_a_replacement_costs_one_call_for_the_new_key(
    old: str, old_value: str, new: str, new_value: str
) -> None:
    backend = ScriptedBackend()
    cache = StepCache(backend, store=MemoryStore(), families=[JsonFamily(), GenericFamily()])
    backend.enqueue(json.dumps({"name": "Maria Lopez", "age": 34, old: old_value}))
    cache.complete({"messages": [{"role": "user", "content": TEMPLATE.format(key=old, record=RECORD)}]})
    backend.enqueue(json.dumps({new: new_value}))
    result = cache.complete({"messages": [{"role": "user", "content": TEMPLATE.format(key=new, record=RECORD)}]})
    served = json.loads(result.text)
    assert served[new] == new_value and result.path is not Route.REUSE
    if result.path is Route.PATCH:
        assert f'exactly these keys: "{new}"' in backend.calls[-1].messages[-1]["content"]
