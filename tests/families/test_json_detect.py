"""JsonFamily.detect: the three request styles, prose requests, and malformed schemas."""

from __future__ import annotations

from typing import Any

import pytest

from stepcache._exceptions import InvalidRequest
from stepcache._types import ChatRequest
from stepcache.families.json_family import JsonFamily

PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


def request(prompt: str, response_format: dict[str, Any] | None = None, system: str | None = None) -> ChatRequest:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return ChatRequest.model_validate({"messages": messages, "response_format": response_format})


def schema_format(schema: dict[str, Any], name: str = "person", strict: bool = True) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}}


family = JsonFamily()


def test_json_schema_request_takes_required_keys_and_schema() -> None:
    task = family.detect(request("Describe Alice, 34, from Paris.", schema_format(PERSON_SCHEMA)))
    assert task is not None
    assert task.family == "json"
    assert task.data["required"] == ["name", "age", "city"]
    assert task.data["schema"] == PERSON_SCHEMA
    assert task.data["prompt"] == "Describe Alice, 34, from Paris."
    assert task.signature.startswith("json|age,city,name|")


def test_json_object_request_takes_keys_from_the_prompt() -> None:
    task = family.detect(request("Return JSON with keys name, age and city for Alice.", {"type": "json_object"}))
    assert task is not None
    assert task.data["required"] == ["name", "age", "city"]
    assert task.data["schema"] is None


def test_json_object_request_without_listed_keys_is_still_json() -> None:
    task = family.detect(request("Describe Alice as a JSON object.", {"type": "json_object"}))
    assert task is not None
    assert task.data["required"] == []


@pytest.mark.parametrize(
    ("prompt", "keys"),
    [
        ("Return a JSON object. Required keys: name, age, city.", ["name", "age", "city"]),
        ("Answer in JSON, keys: title, year", ["title", "year"]),
        (
            "Give JSON with keys `first_name`, `last_name`, and `email` for the user.",
            ["first_name", "last_name", "email"],
        ),
        ("Reply as JSON. Fields: sku, price (number), in_stock (boolean).", ["sku", "price", "in_stock"]),
        ("Produce JSON with the following keys:\n- name\n- age\n\nText: Alice is 34.", ["name", "age"]),
        ('Output JSON with keys "name" and "age".', ["name", "age"]),
    ],
)
def test_prompt_style_request_lists_keys(prompt: str, keys: list[str]) -> None:
    task = family.detect(request(prompt))
    assert task is not None
    assert task.data["required"] == keys


def test_keys_may_be_listed_in_the_system_message() -> None:
    task = family.detect(request("Alice is 34 and lives in Paris.", system="Reply in JSON. Required keys: name, age."))
    assert task is not None
    assert task.data["required"] == ["name", "age"]


@pytest.mark.parametrize(
    "prompt",
    [
        "Write a paragraph about Alice, who is 34 and lives in Paris.",
        "Describe Alice in one sentence. Keys: name, age.",  # prose wins over a stray "keys:"
        "Explain what JSON is in plain text.",
        "Do not use JSON. Required keys: name, age.",
        "Summarise the JSON below, not as JSON. Keys: a, b",
        "Required keys: name, age",  # no JSON asked for
        "Return JSON describing Alice.",  # JSON but no keys: nothing to verify
    ],
)
def test_prose_and_keyless_prompts_are_not_json_tasks(prompt: str) -> None:
    assert family.detect(request(prompt)) is None


def test_response_format_overrides_prose_wording() -> None:
    task = family.detect(request("Describe Alice in one sentence.", schema_format(PERSON_SCHEMA)))
    assert task is not None


def test_text_response_format_falls_back_to_the_prompt() -> None:
    assert family.detect(request("Write a paragraph about Alice.", {"type": "text"})) is None
    task = family.detect(request("JSON please. Keys: a, b", {"type": "text"}))
    assert task is not None and task.data["required"] == ["a", "b"]


@pytest.mark.parametrize(
    ("response_format", "fragment"),
    [
        (schema_format({"type": "object", "properties": {"age": {"type": "integr"}}}), "not valid JSON Schema"),
        (schema_format({"type": "object", "required": "name"}), "not valid JSON Schema"),
        (schema_format({"type": "array", "items": {"type": "string"}}), "must describe a JSON object"),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "needs a 'json_schema' object with a 'schema'"),
        ({"type": "json_schema"}, "needs a 'json_schema' object"),
        ({"type": "yaml"}, "must be 'text', 'json_object' or 'json_schema'"),
    ],
)
def test_invalid_schema_is_an_invalid_request(response_format: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        family.detect(request("Describe Alice.", response_format))
    assert info.value.param == "response_format"
    assert fragment in str(info.value)


def test_invalid_schema_message_points_at_the_bad_part() -> None:
    bad = schema_format({"type": "object", "properties": {"age": {"type": "integr"}}})
    with pytest.raises(InvalidRequest, match=r"properties/age/type"):
        family.detect(request("Describe Alice.", bad))


def test_signature_changes_with_keys_and_schema_but_not_values() -> None:
    def sig(prompt: str, fmt: dict[str, Any] | None = None) -> str:
        task = family.detect(request(prompt, fmt))
        assert task is not None
        return task.signature

    base = sig("JSON please. Required keys: name, age, city. Alice is 34, from Paris.")
    assert sig("JSON please. Required keys: name, age, city. Bob is 28, from Rome.") == base
    assert sig("JSON please. Required keys: name, years, city. Alice is 34, from Paris.") != base
    assert sig("JSON please. Required keys: name, age, city, email. Alice is 34, from Paris.") != base
    with_schema = sig("Alice is 34, from Paris.", schema_format(PERSON_SCHEMA))
    loose = dict(PERSON_SCHEMA, additionalProperties=True)
    assert sig("Alice is 34, from Paris.", schema_format(loose)) != with_schema
    assert sig("Bob is 28, from Rome.", schema_format(PERSON_SCHEMA)) == with_schema


def test_load_task_round_trips_the_stored_data() -> None:
    task = family.detect(request("Describe Alice.", schema_format(PERSON_SCHEMA)))
    assert task is not None
    again = family.load_task(dict(task.data))
    assert again.signature == task.signature
    assert again.data == task.data
