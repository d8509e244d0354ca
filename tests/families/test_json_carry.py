"""What a cached JSON answer may carry to a look-alike request: only what the new text grounds.

A faulty model's slip that the checks cannot see at store time ("Aaa" for "Ada", 1816 for 1815, a
``null`` for a name the text gives) must not be served again to every rewording of the request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepcache import MemoryStore, Route, ScriptedBackend, StepCache
from stepcache.families.json_family._ground import CONFLICT, GROUNDED, Grounder
from stepcache.families.json_family._keys import KeyNames

BASE = (
    "Give me a JSON object with fields first_name, last_name and birth_year (a number) for: Ada Lovelace (1815-1852)."
)
REWORDED = "Make a JSON record for Ada Lovelace (1815-1852) with first_name, last_name and birth_year."


def ask(prompt: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}]}


@pytest.mark.parametrize(
    ("stored", "asked_again"),
    [
        ({"first_name": "Aaa", "last_name": "Lovelace", "birth_year": 1815}, "first_name"),  # a typo
        ({"first_name": "Ada", "last_name": "Lovelace", "birth_year": 1816}, "birth_year"),  # a digit off
        ({"first_name": "Ada", "last_name": None, "birth_year": 1815}, "last_name"),  # null for a name given
    ],
)
def test_a_value_the_text_does_not_ground_is_asked_again_for_a_rewording(
    stored: dict[str, Any], asked_again: str
) -> None:
    backend = ScriptedBackend()
    cache = StepCache(backend, store=MemoryStore())
    backend.enqueue(json.dumps(stored))
    assert cache.complete(ask(BASE)).path is Route.MISS
    right = {"first_name": "Ada", "last_name": "Lovelace", "birth_year": 1815}
    backend.enqueue(json.dumps({asked_again: right[asked_again]}))
    reworded = cache.complete(ask(REWORDED))
    assert reworded.path is Route.PATCH
    assert json.loads(reworded.text) == right
    assert f'exactly these keys: "{asked_again}"' in backend.calls[-1].messages[-1]["content"]
    # the same words are the same request: served as stored, like any exact cache
    assert cache.complete(ask(BASE)).path is Route.REUSE


def test_null_is_carried_only_where_the_text_visibly_lacks_the_value() -> None:
    backend = ScriptedBackend()
    cache = StepCache(backend, store=MemoryStore())
    record = "Ticket from Sam Ortiz: printer on floor 3 is jammed again."
    backend.enqueue(json.dumps({"name": "Sam Ortiz", "email": None}))
    cache.complete(ask(f"Return JSON with keys name, email.\n\n{record}"))
    reworded = cache.complete(ask(f"Extract name and email as JSON (keys: name, email).\n\n{record}"))
    assert reworded.path is Route.REUSE  # no email anywhere in the text: null is a reading of it
    assert json.loads(reworded.text) == {"name": "Sam Ortiz", "email": None}


@pytest.mark.parametrize(
    ("text", "key", "said"),
    [
        ("Nimbus Rain Jacket (SKU RJ-0871). Currently out of stock.", "in_stock", False),
        ("The invoice has been paid in full.", "is_paid", True),
        ("The invoice has not been paid yet.", "paid", False),
        ("Unpaid invoice #44 from Acme.", "paid", False),
        ("Paid by card. Refund requested; nothing paid back yet.", "paid", None),  # said both ways
        ("Sunny two-bedroom flat near the station.", "has_parking", None),  # not said
    ],
)
def test_a_boolean_is_read_from_the_words_of_its_key(text: str, key: str, said: bool | None) -> None:
    grounder = Grounder(text, [key], KeyNames())
    assert grounder.phrased(key) is said
    if said is not None:
        assert grounder.check(key, said).status == GROUNDED


def test_in_prose_the_number_next_to_the_keys_words_is_the_keys() -> None:
    text = "Alert: the error rate reached 7.5% on checkout-api, above the 2% threshold."
    grounder = Grounder(text, ["error_rate_percent", "threshold_percent"], KeyNames())
    swapped = grounder.check("error_rate_percent", 2.0)
    assert swapped.status == CONFLICT and "7.5" in swapped.reason
    assert grounder.check("error_rate_percent", 7.5).status == GROUNDED
    assert grounder.check("threshold_percent", 2).status == GROUNDED
    # "from account ending 4821 to account ending 9930": the words around 4821 name "to account" too,
    # but the number that follows "to account" is 9930
    bank = "You sent EUR 500.00 from account ending 4821 to account ending 9930 on 03/02/2025."
    accounts = Grounder(bank, ["from_account", "to_account"], KeyNames())
    assert accounts.check("to_account", "4821").status == CONFLICT
    assert accounts.check("to_account", "9930").status == GROUNDED
    assert accounts.check("from_account", "4821").status == GROUNDED
    # a receipt line with a rate and an amount: both are next to "tax", so neither is contradicted
    receipt = Grounder("SUBTOTAL 118.99\nSALES TAX 8.25%   9.82\nTOTAL 128.81", ["tax", "total"], KeyNames())
    assert receipt.check("tax", 9.82).status != CONFLICT


def test_a_miscopy_left_after_the_repair_takes_the_texts_spelling() -> None:
    backend = ScriptedBackend()
    cache = StepCache(backend, store=MemoryStore())
    prompt = "Return JSON with keys name, email, order_id.\n\nElena Petrova <elena.petrova@granitecapital.com>, order HC-68241"
    backend.enqueue(
        json.dumps({"name": "Elena Petrova", "email": "elena.petrova@grenitecapital.com", "order_id": "68241"})
    )
    backend.enqueue(json.dumps({"email": "elena.petrova@grenitecapital.com", "order_id": "68241"}))  # the same slips
    result = cache.complete(ask(prompt))
    assert json.loads(result.text) == {
        "name": "Elena Petrova",
        "email": "elena.petrova@granitecapital.com",
        "order_id": "HC-68241",
    }
    assert result.verification is not None and result.verification.ok
