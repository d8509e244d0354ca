"""Key lists written in prompts: intros, bullets, skeletons, tables, CSV headers and runs of names.

Rule for one item: a key is one identifier (``start_date``, ``startDate``, ``e-mail``) or anything
quoted; two unquoted words are not a key, and a list holding them is declined — the request goes to the
generic family rather than getting a guessed key set.
"""

from __future__ import annotations

from typing import Any

import pytest

from stepcache._types import ChatRequest
from stepcache.families.json_family import JsonFamily
from stepcache.families.json_family._keylist import find_keys

family = JsonFamily()


def detect(prompt: str, response_format: dict[str, Any] | None = None, system: str = "") -> Any:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return family.detect(ChatRequest.model_validate({"messages": messages, "response_format": response_format}))


def keys_of(prompt: str, **kwargs: Any) -> list[str] | None:
    task = detect(prompt, **kwargs)
    return None if task is None else list(task.data["required"])


@pytest.mark.parametrize(
    ("prompt", "keys"),
    [
        ("Return JSON with keys name, age and city where city is the home town.", ["name", "age", "city"]),
        ("JSON with fields name, role, etc.", ["name", "role"]),
        ("Return JSON, fields: title or subtitle, year.", ["title", "subtitle", "year"]),
        ("Give JSON with keys `first name`, last_name.", ["first name", "last_name"]),  # quoted: one key
        ("Return JSON with fields firstName, lastName and dateOfBirth.", ["firstName", "lastName", "dateOfBirth"]),
        ("Return JSON with keys from, to, subject.", ["from", "to", "subject"]),  # lone words are keys
        # A skeleton, inline or fenced, with empty or type values; it asks for JSON by itself.
        ('Fill in {"name": "", "email": ""} for: Maria Lopez, maria@example.org', ["name", "email"]),
        ('```json\n{\n  "name": "",\n  "email": null\n}\n```\nComplete it from: Maria, maria@x.org', ["name", "email"]),
        ("Return JSON shaped {name: string, age: number} for Alice, 34.", ["name", "age"]),
        (
            'Return JSON: {"product_id": string, "rating": integer 1-5, "sentiment": "positive" | "negative"}',
            ["product_id", "rating", "sentiment"],
        ),
        # Example values nowhere else in the prompt: a template, not the record.
        (
            'Return JSON like {"name": "John Doe", "email": "john@example.com"} for: Maria, maria@x.org',
            ["name", "email"],
        ),
        ("Return a JSON object containing:\n- name\n- email (string)\n\nMaria, maria@x.org", ["name", "email"]),
        (
            "Return JSON with these keys and no others:\n- invoice_number\n- total (a number)\n",
            ["invoice_number", "total"],
        ),
        ("Return JSON.\n\n| field | type |\n|---|---|\n| name | string |\n| email | string |\n", ["name", "email"]),
        (
            'Convert this CSV row to JSON, header names as keys.\n\nsku,name,price\nWD-4410,Walnut lamp,"1,049.00"',
            ["sku", "name", "price"],
        ),
        (
            "Extract name, age, city and phone as JSON.\n\nGeorge Miller, 52, lives in Leeds.",
            ["name", "age", "city", "phone"],
        ),
        (
            "From the email below, extract sender_email, subject and sent_date (YYYY-MM-DD). Respond with JSON only.",
            ["sender_email", "subject", "sent_date"],
        ),
        (
            "Parse this into JSON (sender_email, subject, sent_date in ISO format YYYY-MM-DD):",
            ["sender_email", "subject", "sent_date"],
        ),
        (
            "yo convert to JSON → amount / currency / from_account / date (ISO)",
            ["amount", "currency", "from_account", "date"],
        ),
        (
            "JSON please: note_id, date (YYYY-MM-DD), pallets, weight_kg (number)",
            ["note_id", "date", "pallets", "weight_kg"],
        ),
        # JSON whose placeholders are not JSON: quoted keys are the template
        (
            'Turn the alert into JSON using exactly this shape:\n```\n{\n  "incident_id": "INC-...",\n  "severity": '
            '"P1|P2|P3|P4",\n  "acknowledged": true/false\n}\n```\n\nIncident: INC-48213',
            ["incident_id", "severity", "acknowledged"],
        ),
        ("Return JSON with keys gift_wrap (true or false), total.", ["gift_wrap", "total"]),
    ],
)
def test_key_lists_are_read(prompt: str, keys: list[str]) -> None:
    assert keys_of(prompt) == keys


@pytest.mark.parametrize(
    "prompt",
    [
        # Two unquoted words are not a key: which keys were meant? Declined, not guessed.
        "Return JSON with fields name, role and start date where start date is ISO.",
        "Return JSON with keys name, email address and phone.",
        # "a list of {name, role} objects" with no key before it: the answer is not an object.
        "Return JSON: a list of {name, role} objects for the team.",
        # Two lists that disagree.
        'Return JSON with keys name, age. Use this shape: {"name": "", "email": ""}',
    ],
)
def test_lists_in_doubt_are_declined(prompt: str) -> None:
    assert detect(prompt) is None
    assert detect(prompt, {"type": "json_object"}) is None  # handled as generic, never a guessed key set


@pytest.mark.parametrize(
    "prompt",
    [
        "Reply using exactly this template and nothing else:\nx = {x}\n\nEquation: 4x - 5 = x + 16",
        "Solve $\\frac{x}{3} + 4 = 10$.",
        "Alice, Bob and Carol went out. Return JSON.",  # names are values, not keys
        'Convert this JSON to YAML: {"name": "Maria", "age": 34}',
        'Here is the user: {"name": "Maria", "city": "Seville"}. Summarise Maria in JSON.',  # the record itself
    ],
)
def test_braces_and_names_that_are_not_key_lists(prompt: str) -> None:
    assert keys_of(prompt) is None


def test_a_nested_skeleton_gives_the_shape_and_it_is_checked() -> None:
    prompt = (
        'Return JSON like {"team": "", "members": [{"name": "", "role": ""}]} for: Falcon, Ben (lead), Chloe (dev).'
    )
    task = detect(prompt)
    assert task is not None and task.data["required"] == ["team", "members"]
    assert task.data["shape"] == {"members": [{"name": None, "role": None}]}
    good = ['"team": "Falcon"', '"members": [{"name":"Ben","role":"lead"},{"name":"Chloe","role":"dev"}]']
    assert family.verify(task, good).ok
    flat = ['"team": "Falcon"', '"members": ["Ben", "Chloe"]']
    report = family.verify(task, flat)
    assert report.failing == (1,) and not report.steps[1].doubt  # the shape is a hard rule
    repair = family.patch_request(
        ChatRequest.model_validate({"messages": [{"role": "user", "content": prompt}]}), task, flat, report
    )
    assert "Nested shape" in repair.messages[-1]["content"]  # the repair says how the failing key nests


def test_a_list_of_objects_in_a_key_list_is_the_nesting_of_the_key_before_it() -> None:
    task = detect("Return JSON with keys team and members, a list of {name, role} objects.")
    assert task is not None and task.data["required"] == ["team", "members"]
    assert task.data["shape"] == {"members": [{"name": None, "role": None}]}
    flat = detect("Return JSON with keys team and members.")
    assert flat is not None and flat.signature != task.signature  # nesting is part of the template


def test_a_flat_skeleton_and_a_written_list_are_the_same_template() -> None:
    skeleton = detect('Fill in {"name": "", "email": ""} for: Maria Lopez, maria@example.org')
    written = detect("Return JSON with keys name, email for: Maria Lopez, maria@example.org")
    assert skeleton is not None and written is not None and skeleton.signature == written.signature


@pytest.mark.parametrize(
    ("prompt", "key", "hint"),
    [
        ("Return JSON with keys name, age (integer), paid (true/false).", "age", {"type": "integer"}),
        ("Return JSON with keys name, age (integer), paid (true/false).", "paid", {"type": "boolean"}),
        ("Return JSON with keys title, date (YYYY-MM-DD).", "date", {"type": "string", "format": "date"}),
        ("Return JSON with keys amount, date yyyy-mm-dd, currency.", "date", {"type": "string", "format": "date"}),
        ("Return JSON with keys total (a number without the currency symbol), items.", "total", {"type": "number"}),
    ],
)
def test_a_type_in_parentheses_is_kept_as_a_hint(prompt: str, key: str, hint: dict[str, Any]) -> None:
    task = detect(prompt)
    assert task is not None and task.data["hints"][key] == hint


def test_hints_guide_coercion_and_grounding_but_are_not_a_schema() -> None:
    task = detect("Convert to JSON with keys username, verified_email (boolean). aperez: email address verified.")
    assert task is not None
    steps = family.segment(task, '{"username": "aperez", "verified_email": "true"}')
    assert steps[1] == '"verified_email": true'  # coerced as the hint says
    assert family.verify(task, steps).ok  # and no "a boolean is not an email" conflict


def test_key_spans_mark_the_instruction_and_the_rest_is_record() -> None:
    text = "Return JSON with keys name, email. Maria Lopez, maria@example.org"
    found = find_keys(text, json_asked=True)
    assert found.keys == ("name", "email")
    [(start, end), *rest] = found.spans
    assert "name" in text[start:] and "Maria" not in text[start : max(e for _, e in found.spans)]
    task = detect(text)
    assert (
        task is not None and "name, email" not in task.parsed.record_text and "Maria Lopez" in task.parsed.record_text
    )


@pytest.mark.parametrize("hint", ["true or false", "true/false", "yes/no", "boolean", "y/n"])
def test_a_yes_or_no_hint_is_a_boolean(hint: str) -> None:
    task = detect(f"Return JSON with keys order_id, gift_wrap ({hint}).\n\nOrder #: A-1\nGift wrap: No")
    assert task is not None and task.data["hints"]["gift_wrap"] == {"type": "boolean"}
