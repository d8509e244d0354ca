"""JsonFamily.verify: syntax, required keys, per-key schema checks, extra keys, whole-object checks."""

from __future__ import annotations

import json
from typing import Any

from stepcache._types import ChatRequest
from stepcache.families import Task
from stepcache.families.json_family import JsonFamily

family = JsonFamily()

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "city": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


def task_for(schema: dict[str, Any] | None = SCHEMA, prompt: str = "Describe Alice.") -> Task:
    fmt = None if schema is None else {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    req = ChatRequest.model_validate({"messages": [{"role": "user", "content": prompt}], "response_format": fmt})
    task = family.detect(req)
    assert task is not None
    return task


def steps_of(obj: dict[str, Any]) -> list[str]:
    return [json.dumps(k) + ": " + json.dumps(v) for k, v in obj.items()]


def test_a_valid_object_verifies() -> None:
    report = family.verify(task_for(), steps_of({"name": "Alice", "age": 34, "city": "Paris", "tags": ["x"]}))
    assert report.ok
    assert len(report.steps) == 4


def test_missing_required_key_is_a_problem_not_a_failing_step() -> None:
    report = family.verify(task_for(), steps_of({"name": "Alice", "age": 34}))
    assert not report.ok
    assert report.problems == ("missing required key 'city'",)
    assert report.first_failure is None


def test_wrong_type_fails_that_key_only() -> None:
    report = family.verify(task_for(), steps_of({"name": "Alice", "age": "34 years", "city": "Paris"}))
    assert not report.ok
    assert report.failing == (1,)
    assert "'age'" in report.steps[1].reason and "integer" in report.steps[1].reason
    assert report.problems == ()


def test_nested_schema_errors_are_pinned_to_their_top_level_key() -> None:
    report = family.verify(task_for(), steps_of({"name": "Alice", "age": 34, "city": "Paris", "tags": ["ok", 3]}))
    assert report.failing == (3,)
    assert "[1]" in report.steps[3].reason


def test_constraint_violations_fail_the_key() -> None:
    report = family.verify(task_for(), steps_of({"name": "", "age": -1, "city": "Paris"}))
    assert report.failing == (0, 1)


def test_additional_properties_false_fails_the_extra_key() -> None:
    report = family.verify(task_for(), steps_of({"name": "Alice", "age": 34, "city": "Paris", "country": "France"}))
    assert report.failing == (3,)
    assert "not allowed" in report.steps[3].reason


def test_extra_keys_pass_when_the_schema_allows_them() -> None:
    open_schema = dict(SCHEMA, additionalProperties=True)
    assert family.verify(task_for(open_schema), steps_of({"name": "A", "age": 1, "city": "P", "country": "F"})).ok


def test_without_a_schema_extra_keys_pass_and_required_keys_are_checked() -> None:
    task = task_for(None, "Return JSON. Required keys: name, age.")
    assert family.verify(task, steps_of({"name": "Alice", "age": "whatever", "note": 1})).ok
    assert family.verify(task, steps_of({"name": "Alice"})).problems == ("missing required key 'age'",)


def test_malformed_and_duplicate_steps_fail() -> None:
    task = task_for(None, "Return JSON. Required keys: name, age.")
    report = family.verify(task, ['"name": "Alice"', '"age": 34, "x": 1', '"name": "Bob"', "age 34"])
    assert report.failing == (1, 2, 3)
    assert "duplicate key 'name'" in report.steps[2].reason
    assert report.problems == ("missing required key 'age'",)


def test_an_empty_answer_never_verifies() -> None:
    assert not family.verify(task_for(None, "Return JSON. Keys: a"), []).ok
    assert not family.verify(task_for({"type": "object"}), []).ok
    messages = [{"role": "user", "content": "JSON"}]
    json_object = {"type": "json_object"}
    no_keys = family.detect(ChatRequest.model_validate({"messages": messages, "response_format": json_object}))
    assert no_keys is not None
    assert family.verify(no_keys, []).problems == ("no JSON object found in the answer",)


def test_whole_object_rules_are_enforced() -> None:
    schema = {
        "type": "object",
        "properties": {"email": {"type": "string"}, "phone": {"type": "string"}},
        "anyOf": [{"required": ["email"]}, {"required": ["phone"]}],
        "maxProperties": 1,
    }
    task = task_for(schema)
    assert family.verify(task, steps_of({"email": "a@b.c"})).ok
    assert not family.verify(task, steps_of({"email": "a@b.c", "phone": "1"})).ok
    report = family.verify(task, steps_of({"fax": "1"}))
    assert not report.ok and report.problems


def test_refs_into_defs_are_resolved() -> None:
    schema = {
        "type": "object",
        "$defs": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
        "properties": {"city": {"$ref": "#/$defs/city"}},
        "required": ["city"],
    }
    task = task_for(schema)
    assert family.verify(task, steps_of({"city": "Rome"})).ok
    assert family.verify(task, steps_of({"city": "Oslo"})).failing == (0,)


def test_verified_steps_always_render_to_schema_valid_json() -> None:
    from jsonschema import Draft202012Validator

    task = task_for()
    for text in ['{"name": "A", "age": 1, "city": "P"}', '{"name": "A", "age": "1", "city": "P", "tags": []}']:
        steps = family.segment(task, text)
        assert family.verify(task, steps).ok
        assert Draft202012Validator(SCHEMA).is_valid(json.loads(family.render(task, steps)))


def test_conditionally_required_keys_are_reported() -> None:
    schema = {
        "type": "object",
        "properties": {"kind": {"type": "string"}, "email": {"type": "string"}},
        "required": ["kind"],
        "if": {"properties": {"kind": {"const": "user"}}},
        "then": {"required": ["email"]},
    }
    task = task_for(schema)
    assert family.verify(task, steps_of({"kind": "bot"})).ok
    report = family.verify(task, steps_of({"kind": "user"}))
    assert not report.ok
    assert any("email" in p for p in report.problems)


RECORD = "Return JSON with keys name, city, status for: Maria Wei lives in Lisbon, status active, id 12345."


def test_a_value_miscopied_from_the_request_fails_its_step() -> None:
    task = task_for(None, RECORD)
    report = family.verify(task, steps_of({"name": "Maria Wei", "city": "Lisboa", "status": "active"}))
    assert not report.ok and report.first_failure == 1
    assert '"Lisbon"' in report.steps[1].reason and "copy values exactly" in report.steps[1].reason


def test_copied_invented_and_computed_values_are_not_flagged() -> None:
    task = task_for(None, RECORD)
    for obj in (
        {"name": "Maria Wei", "city": "Lisbon", "status": "active"},  # copied
        {"name": "Maria Wei", "city": "lisbon", "status": "ACTIVE"},  # case aside
        {"name": "Maria Wei", "city": "Lisbon", "status": "inactive"},  # a different word, not a miscopy
        {"name": "Maria Wei", "city": "Lisbon", "status": "engineer"},  # made up, resembles nothing
        {"name": "Maria Wei", "city": "Lisbon, Portugal", "status": "12346"},  # phrase; a number string
    ):
        assert family.verify(task, steps_of(obj)).ok, obj
