"""JsonFamily.segment/render: single-step extraction of the object, coercion, and key order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepcache._types import ChatRequest
from stepcache.families import Task
from stepcache.families.json_family import JsonFamily

family = JsonFamily()

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "height": {"type": "number"},
        "member": {"type": "boolean"},
        "zip": {"type": ["string", "integer"]},
    },
    "required": ["name", "age"],
}


def prompt_task(keys: str = "name, age, city") -> Task:
    task = family.detect(ChatRequest.model_validate({"messages": [{"role": "user", "content": f"JSON. Keys: {keys}"}]}))
    assert task is not None
    return task


def schema_task(schema: dict[str, Any] = SCHEMA) -> Task:
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    req = ChatRequest.model_validate({"messages": [{"role": "user", "content": "Alice"}], "response_format": fmt})
    task = family.detect(req)
    assert task is not None
    return task


def as_object(task: Task, text: str) -> dict[str, Any]:
    return json.loads(family.render(task, family.segment(task, text)))  # type: ignore[no-any-return]


EXPECTED = {"name": "Alice", "age": 34, "city": "Paris"}


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "Alice", "age": 34, "city": "Paris"}',
        '```json\n{"name": "Alice", "age": 34, "city": "Paris"}\n```',
        'Sure! Here is the JSON you asked for:\n```\n{"name": "Alice", "age": 34, "city": "Paris"}\n```\nLet me know!',
        'Here it is: {"name": "Alice", "age": 34, "city": "Paris"} -- hope that helps.',
        '{"name": "Alice", "age": 34, "city": "Paris",}',
        '{\n  "name": "Alice",\n  "age": 34,\n  "city": "Paris",\n}',
        "{'name': 'Alice', 'age': 34, 'city': 'Paris'}",
        "Python says {'name': 'Alice', 'age': 34, 'city': 'Paris', }",
        "I'd say: {'name': 'Alice', 'age': 34, 'city': 'Paris'}",
        'Use {braces} like this: {"name": "Alice", "age": 34, "city": "Paris"}',
        '```json\n{"name": "Alice", "age": 34, "city": "Paris"}',  # fence never closed (truncated reply)
    ],
)
def test_extracts_the_object_from_wrapped_or_sloppy_text(text: str) -> None:
    assert as_object(prompt_task(), text) == EXPECTED


def test_python_constants_are_read_only_when_strict_parsing_fails() -> None:
    task = prompt_task("ok, missing, label")
    expected = {"ok": True, "missing": None}
    assert as_object(task, "{'ok': True, 'missing': None, 'label': 'None'}") == {**expected, "label": "None"}
    assert as_object(task, '{"ok": true, "missing": null, "label": "True"}') == {**expected, "label": "True"}
    # JSON constants inside a single-quoted object still parse; string contents are left alone.
    assert as_object(task, "{'ok': true, 'missing': null, 'label': 'true'}") == {**expected, "label": "true"}


def test_braces_and_quotes_inside_strings_do_not_confuse_extraction() -> None:
    task = prompt_task("code, note")
    text = 'Result: {"code": "if (x) { y(); }", "note": "she said \\"hi\\" }"} trailing'
    assert as_object(task, text) == {"code": "if (x) { y(); }", "note": 'she said "hi" }'}


@pytest.mark.parametrize(
    "text",
    ["", "no json here", "{not: valid, json}", '["a", "b"]', "{'a': {1, 2}}", '{"a": NaN}', "{", "{}"],
)
def test_nothing_parseable_gives_no_steps(text: str) -> None:
    assert family.segment(prompt_task("a"), text) == []


def test_one_step_per_top_level_key_as_a_compact_fragment() -> None:
    text = '{"name": "Alice", "tags": ["a", "b"], "address": {"city": "Paris"}}'
    steps = family.segment(prompt_task("name, tags, address"), text)
    assert steps == ['"name": "Alice"', '"tags": ["a","b"]', '"address": {"city":"Paris"}']


def test_render_puts_required_keys_first_in_the_task_order() -> None:
    task = prompt_task("name, age, city")
    steps = family.segment(task, '{"extra": 1, "city": "Paris", "age": 34, "name": "Alice"}')
    assert family.render(task, steps) == '{"name": "Alice", "age": 34, "city": "Paris", "extra": 1}'


def test_render_keeps_non_ascii_text() -> None:
    task = prompt_task("city")
    assert family.render(task, family.segment(task, '{"city": "Zürich"}')) == '{"city": "Zürich"}'


def test_schema_coercions_are_applied_in_segment() -> None:
    task = schema_task()
    obj = as_object(task, '{"name": "34", "age": "34", "height": "1.75", "member": "true", "zip": "75001"}')
    assert obj == {"name": "34", "age": 34, "height": 1.75, "member": True, "zip": "75001"}
    assert family.verify(task, family.segment(task, '{"name": "Al", "age": " 34 ", "member": "False"}')).ok


@pytest.mark.parametrize("age", ['"34 years"', '"3.5"', '"thirty"', '"1e3"'])
def test_unsafe_coercions_are_not_made(age: str) -> None:
    task = schema_task()
    steps = family.segment(task, f'{{"name": "Alice", "age": {age}}}')
    assert json.loads(family.render(task, steps))["age"] == json.loads(age)
    assert not family.verify(task, steps).ok


def test_without_schema_strings_stay_strings() -> None:
    assert as_object(prompt_task("age"), '{"age": "34"}') == {"age": "34"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1), json_values, min_size=1, max_size=5),
    st.sampled_from(["", "Here:\n", "```json\n"]),
)
def test_any_object_survives_segment_and_render(obj: dict[str, Any], prefix: str) -> None:
    task = prompt_task("a")
    text = prefix + json.dumps(obj) + ("\n```" if prefix.startswith("```") else "")
    steps = family.segment(task, text)
    assert len(steps) == len(obj)
    assert json.loads(family.render(task, steps)) == obj
