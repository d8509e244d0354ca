"""The Responses API (``/v1/responses``) ⇄ StepCache translation alone: no proxy, no engine.

Every object and event emitted is checked against the official ``openai`` SDK's types, and the
SDK's own client reads them through a faked transport, as it would read them from the proxy.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from stepcache._exceptions import InvalidRequest
from stepcache._types import Result, Route, StepCounts, TokenUsage
from stepcache.server import ServerSettings
from stepcache.server import _responses as rs

SETTINGS = ServerSettings()
ASK = "Solve 3x + 5 = 20"
EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
RESULT = Result(
    text="1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5",
    path=Route.REUSE,
    family="linear",
    entry="e1",
    similarity=0.97,
    steps=StepCounts(3, 0, 3),
    upstream_tokens=TokenUsage(12, 8),
)


def parse(body: object, settings: ServerSettings = SETTINGS, cache_control: str | None = None) -> rs.ResponsesInbound:
    return rs.parse_responses(body, namespace="ns", settings=settings, cache_control=cache_control)


def messages(parsed: rs.ResponsesInbound) -> list[tuple[str, str]]:
    request = parsed.inbound.request
    assert request is not None, parsed.inbound.bypass_reason
    return [(m.role, m.content) for m in request.messages]


# -- inbound -----------------------------------------------------------------------------------
def test_a_string_input_is_one_user_message_and_the_body_is_kept_as_received() -> None:
    body = {"model": "gpt-4.1", "input": ASK}
    parsed = parse(body)
    inbound = parsed.inbound
    assert messages(parsed) == [("user", ASK)]
    assert inbound.endpoint == "chat" and inbound.body is body and inbound.model == "gpt-4.1"
    assert inbound.request is not None and (inbound.request.namespace, inbound.request.model) == ("ns", "gpt-4.1")
    assert not inbound.stream and inbound.bypass_reason == "" and inbound.read and inbound.write
    assert parsed.chat_body == {"model": "gpt-4.1", "messages": [{"role": "user", "content": ASK}]}


def test_instructions_come_first_as_a_system_message() -> None:
    assert messages(parse({"input": ASK, "instructions": "Number the steps."})) == [
        ("system", "Number the steps."),
        ("user", ASK),
    ]
    assert messages(parse({"input": ASK, "instructions": ""})) == [("user", ASK)]


def test_message_items_and_instructions_become_chat_messages() -> None:
    parsed = parse(
        {
            "model": "m",
            "instructions": "Answer with numbered steps.",
            "input": [
                {"role": "developer", "content": "be terse"},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Solve "}, {"type": "input_text", "text": "2x = 4"}],
                },
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "x = 2", "annotations": []}],
                },
                {"role": "system", "content": "check the answer"},
                {"role": "user", "content": ASK},
            ],
            "stream": True,
            "max_output_tokens": 64,
        }
    )
    assert messages(parsed) == [
        ("system", "Answer with numbered steps."),
        ("system", "be terse"),
        ("user", "Solve 2x = 4"),
        ("assistant", "x = 2"),
        ("system", "check the answer"),
        ("user", ASK),
    ]
    assert parsed.inbound.stream
    assert parsed.inbound.request is not None and parsed.inbound.request.max_tokens == 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True}},
            {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True}},
        ),
        (
            {"format": {"type": "json_schema", "name": "a", "description": "the result", "schema": {"type": "object"}}},
            {
                "type": "json_schema",
                "json_schema": {"name": "a", "description": "the result", "schema": {"type": "object"}},
            },
        ),
        ({"format": {"type": "json_object"}}, {"type": "json_object"}),
        ({"format": {"type": "text"}}, None),
        ({}, None),
    ],
)
def test_text_format_becomes_the_chat_response_format(text: dict[str, Any], expected: dict[str, Any] | None) -> None:
    parsed = parse({"input": ASK, "text": text})
    assert parsed.inbound.request is not None and parsed.inbound.request.response_format == expected
    assert parsed.chat_body.get("response_format") == expected


def test_harmless_parameters_keep_the_request_cacheable() -> None:
    parsed = parse(
        {
            "input": ASK,
            "metadata": {"run": "7"},
            "user": "u1",
            "store": False,
            "service_tier": "auto",
            "truncation": "auto",
            "safety_identifier": "s",
            "prompt_cache_key": "k",
            "prompt_cache_retention": "24h",
            "parallel_tool_calls": True,
            "max_tool_calls": 3,
            "stream_options": {"include_obfuscation": False},
            "temperature": 0,
            "top_p": 1,
            "tools": [],
            "include": [],
            "background": False,
            "reasoning": None,
        }
    )
    assert messages(parsed) == [("user", ASK)]


def test_upstream_model_pin_and_cache_controls_work_as_in_chat() -> None:
    pinned = parse({"model": "gpt-4o", "input": ASK}, ServerSettings(upstream_model="qwen"))
    assert (
        pinned.inbound.model == "qwen" and pinned.inbound.request is not None and pinned.inbound.request.model == "qwen"
    )
    body_controls = parse({"input": ASK, "cache": {"no-store": True}}).inbound
    assert body_controls.read and not body_controls.write
    header = parse({"input": ASK}, cache_control="no-cache").inbound
    assert not header.read and header.write


def test_sampling_bypasses_unless_the_operator_opts_in() -> None:
    sampled = parse({"input": ASK, "temperature": 0.8}).inbound
    assert sampled.request is None and "temperature 0.8" in sampled.bypass_reason
    opted = parse({"input": ASK, "temperature": 0.8}, ServerSettings(allow_sampling_cache=True)).inbound
    assert opted.request is not None and "sampling" in opted.request.namespace


def test_coalescing_tells_responses_bodies_apart() -> None:
    a = parse({"input": ASK}).inbound.coalesce_key()
    same = parse({"input": ASK}).inbound.coalesce_key()
    other = parse({"input": ASK, "instructions": "be terse"}).inbound.coalesce_key()
    assert a == same != other


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"tools": [{"type": "function", "name": "f", "parameters": {}}]}, "tools"),
        ({"tools": [{"type": "web_search"}]}, "tools"),
        ({"tool_choice": "none"}, "tools"),
        ({"background": True}, "background"),
        ({"reasoning": {"effort": "low"}}, "reasoning"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"top_logprobs": 0}, "logprobs"),
        ({"seed": 7}, "seed"),
        ({"moderation": {"mode": "block"}}, "moderation"),
        ({"text": {"verbosity": "low"}}, "text.verbosity"),
        ({"input": [{"type": "function_call_output", "call_id": "c1", "output": "42"}]}, "function_call_output"),
        ({"input": [{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}]}, "function_call"),
        ({"input": [{"type": "reasoning", "id": "rs_1", "summary": []}]}, "reasoning"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "item_reference"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "data:"}]}]}, "input_image"),
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input_file"),
        ({"input": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}, "input_audio"),
        ({"input": None, "prompt": {"id": "pmpt_1", "variables": {"x": "1"}}}, "prompt"),
    ],
)
def test_bypass_forwards_the_body_unchanged(extra: dict[str, Any], reason: str) -> None:
    body = {"model": "m", "input": ASK, **extra}
    inbound = parse(body).inbound
    assert inbound.request is None and reason in inbound.bypass_reason
    assert inbound.body is body and inbound.body == {"model": "m", "input": ASK, **extra}


def test_bypass_keeps_the_text_core_and_every_reason() -> None:
    body = {
        "input": [
            {"role": "user", "content": ASK},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ],
        "tools": [{"type": "function", "name": "f", "parameters": {}}],
        "temperature": 0.5,
    }
    parsed = parse(body)
    assert parsed.inbound.request is None
    reason = parsed.inbound.bypass_reason
    assert reason.startswith("tools / function calling; input items of type function_call_output; temperature 0.5")
    assert reason.count("tools") == 1
    assert parsed.chat_body["messages"] == [{"role": "user", "content": ASK}]


def test_disabled_cache_bypasses_everything() -> None:
    inbound = parse({"input": ASK}, ServerSettings(cache_enabled=False)).inbound
    assert inbound.request is None and "disabled" in inbound.bypass_reason


SCHEMA_FORMAT = {"type": "json_schema", "name": "a"}


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ("input", None, "JSON object"),
        ({"model": "m"}, "input", "'input' is required"),
        ({"input": []}, "input", "non-empty list"),
        ({"input": 5}, "input", "a number"),
        ({"input": ""}, "input", "no user text"),
        ({"input": "   ", "instructions": "be terse"}, "input", "no user text"),
        ({"input": [{"role": "system", "content": "only system"}]}, "input", "no user text"),
        ({"input": ["hi"]}, "input[0]", "must be an object"),
        ({"input": [{"type": 3, "role": "user", "content": "hi"}]}, "input[0].type", "string"),
        ({"input": [{"content": "hi"}]}, "input[0].role", "one of user"),
        ({"input": [{"role": "tool", "content": "hi"}]}, "input[0].role", "'tool'"),
        ({"input": [{"role": "user", "content": 5}]}, "input[0].content", "a number"),
        ({"input": [{"role": "user", "content": ["hi"]}]}, "input[0].content[0]", "'type'"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text", "text": 1}]}]},
            "input[0].content[0].text",
            "string",
        ),
        ({"input": ASK, "instructions": ["a"]}, "instructions", "string"),
        ({"input": ASK, "max_output_tokens": 0}, "max_output_tokens", "integer >= 1"),
        ({"input": ASK, "max_output_tokens": "9"}, "max_output_tokens", "integer >= 1"),
        ({"input": ASK, "max_output_tokens": True}, "max_output_tokens", "integer >= 1"),
        ({"input": ASK, "temperature": "hot"}, "temperature", "number from 0 to 2"),
        ({"input": ASK, "top_p": 2}, "top_p", "number from 0 to 1"),
        ({"input": ASK, "stream": "yes"}, "stream", "true or false"),
        ({"input": ASK, "background": "no"}, "background", "true or false"),
        ({"input": ASK, "store": 1}, "store", "true or false"),
        ({"input": ASK, "model": 3}, "model", "string"),
        ({"input": ASK, "metadata": {"run": 7}}, "metadata", "string values"),
        ({"input": ASK, "truncation": "middle"}, "truncation", "'middle'"),
        ({"input": ASK, "stream_options": True}, "stream_options", "object"),
        ({"input": ASK, "cache": {"no-cache": "yes"}}, "cache.no-cache", "true or false"),
        ({"input": ASK, "text": "json"}, "text", "object"),
        ({"input": ASK, "text": {"format": "json"}}, "text.format", "object"),
        ({"input": ASK, "text": {"format": {"type": "yaml"}}}, "text.format.type", "'yaml'"),
        ({"input": ASK, "text": {"format": SCHEMA_FORMAT}}, "text.format", "'schema'"),
        ({"input": ASK, "text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format", "'name'"),
        (
            {"input": ASK, "text": {"format": {**SCHEMA_FORMAT, "schema": {}, "strict": "yes"}}},
            "text.format.strict",
            "bool",
        ),
        (
            {"input": ASK, "text": {"format": {**SCHEMA_FORMAT, "schema": {"type": "banana"}}}},
            "text.format.schema",
            "text.format.schema is not a valid JSON Schema",
        ),
    ],
)
def test_bad_input_names_the_field_and_the_fix(body: object, param: str | None, words: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse(body)
    assert info.value.param == param
    assert words in str(info.value)


def test_a_forwarded_request_is_still_checked() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse({"input": ASK, "tools": [{"type": "web_search"}], "temperature": 5})
    assert info.value.param == "temperature"


# -- outbound: the response object ----------------------------------------------------------------
def _no_extras(model: pydantic.BaseModel, where: str = "response") -> None:
    """The SDK's models accept unknown keys; a misspelt field would pass validation unnoticed."""
    assert not model.model_extra, f"{where} has fields the SDK does not know: {sorted(model.model_extra or {})}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, pydantic.BaseModel):
                _no_extras(item, f"{where}.{name}[{i}]")


def validated(obj: dict[str, Any]) -> Response:
    response = Response.model_validate({k: v for k, v in obj.items() if k != "stepcache"})
    _no_extras(response)
    return response


REQUEST = {
    "model": "m",
    "input": ASK,
    "instructions": "Number the steps.",
    "max_output_tokens": 200,
    "temperature": 0,
    "metadata": {"run": "7"},
    "text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}, "strict": True}},
}


def test_response_object_is_a_complete_sdk_response_with_stepcache_metadata() -> None:
    obj = rs.response_object(RESULT, model="m", request_body=REQUEST)
    response = validated(obj)
    assert response.id.startswith("resp_") and response.object == "response" and response.status == "completed"
    assert response.output_text == RESULT.text and response.model == "m"
    message = response.output[0]
    assert message.type == "message" and message.id.startswith("msg_") and message.status == "completed"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (12, 8, 20)
    assert response.instructions == "Number the steps." and response.max_output_tokens == 200
    assert response.metadata == {"run": "7"} and response.temperature == 0
    assert response.text is not None and response.text.format is not None and response.text.format.type == "json_schema"
    assert response.incomplete_details is None and response.completed_at is not None
    assert obj["stepcache"] == RESULT.metadata() and obj["stepcache"]["path"] == "reuse"
    assert json.loads(json.dumps(obj)) == obj


def test_response_object_defaults_for_a_bare_request_and_a_given_id() -> None:
    response = validated(rs.response_object(RESULT, model="m", request_body={"input": ASK}, response_id="resp_x"))
    assert response.id == "resp_x"
    assert response.text is not None and response.text.format is not None and response.text.format.type == "text"
    assert response.instructions is None and response.max_output_tokens is None and response.metadata == {}


def test_an_answer_cut_by_the_token_limit_is_incomplete() -> None:
    response = validated(rs.response_object(RESULT, model="m", request_body=REQUEST, finish_reason="length"))
    assert response.status == "incomplete" and response.completed_at is None
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    message = response.output[0]
    assert message.type == "message" and message.status == "incomplete" and response.output_text == RESULT.text


def test_usage_of_a_forwarded_response() -> None:
    assert rs.usage_of({"usage": {"input_tokens": 9, "output_tokens": 4, "total_tokens": 13}}) == TokenUsage(9, 4)
    assert rs.usage_of({"usage": {"input_tokens": True, "output_tokens": "4"}}) == TokenUsage()
    assert rs.usage_of({}) == TokenUsage()


# -- outbound: the stream --------------------------------------------------------------------------
def events_of(sse: str) -> list[dict[str, Any]]:
    """Every SSE block parsed, checked against the SDK's event union, with its ``event:`` line."""
    assert sse.endswith("\n\n") and "[DONE]" not in sse
    events = []
    for block in sse.split("\n\n")[:-1]:
        head, data = block.split("\n")
        assert head.startswith("event: ") and data.startswith("data: ")
        event = json.loads(data[len("data: ") :])
        assert head == f"event: {event['type']}"
        parsed = EVENT.validate_python(event)
        if event["type"] in _WITH_RESPONSE:  # the response may carry ``stepcache``: checked alone
            assert set(event) == {"type", "sequence_number", "response"}
            validated(event["response"])
        else:
            _no_extras(parsed, event["type"])
        events.append(event)
    first = events[0]["sequence_number"]
    assert [e["sequence_number"] for e in events] == list(range(first, first + len(events)))
    return events


_WITH_RESPONSE = {
    "response.created",
    "response.in_progress",
    "response.completed",
    "response.incomplete",
    "response.failed",
}


def test_streamed_events_follow_the_openai_sequence() -> None:
    stream = rs.ResponseEvents("m", REQUEST)
    pieces = ["1. 3x + 5 = 20\n", "2. 3x = 15\n", "3. x = 5"]
    sse = stream.start() + "".join(stream.delta(p) for p in pieces) + stream.finish(RESULT)
    events = events_of(sse)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["sequence_number"] == 0
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert {e["response"]["id"] for e in events if "response" in e} == {stream.response_id}
    item_ids = {e["item"]["id"] for e in events if "item" in e} | {e["item_id"] for e in events if "item_id" in e}
    assert len(item_ids) == 1
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == RESULT.text
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["stepcache"] == RESULT.metadata()
    assert done["output"][0]["id"] in item_ids and done["usage"]["total_tokens"] == 20


def accumulated(events: list[dict[str, Any]]) -> Any:
    """The final response as the SDK's stream accumulator builds it from the events."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[], text_format=openai.omit)
    seen = [out for event in events for out in state.handle_event(EVENT.validate_python(event))]
    assert seen[-1].type == "response.completed"
    return seen[-1].response


def test_the_sdk_accumulates_the_stream_into_the_answer() -> None:
    final = accumulated(events_of(rs.response_stream(RESULT, model="m", request_body=REQUEST)))
    assert final.output_text == RESULT.text and final.status == "completed"


def test_an_incomplete_stream_ends_with_response_incomplete() -> None:
    events = events_of(rs.response_stream(RESULT, model="m", request_body=REQUEST, finish_reason="length"))
    last = events[-1]
    assert last["type"] == "response.incomplete" and last["response"]["incomplete_details"] == {
        "reason": "max_output_tokens"
    }
    assert events[-2]["item"]["status"] == "incomplete"


def test_a_stream_that_fails_midway_reports_error_then_failed() -> None:
    stream = rs.ResponseEvents("m", REQUEST)
    events = events_of(
        stream.start() + stream.delta("1. 3x + 5 = 20\n") + stream.error("the upstream timed out", "upstream_timeout")
    )
    error, failed = events[-2], events[-1]
    assert error == {
        "type": "error",
        "sequence_number": 5,
        "code": "upstream_timeout",
        "message": "the upstream timed out",
        "param": None,
    }
    assert failed["type"] == "response.failed" and failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "server_error", "message": "the upstream timed out"}
    assert failed["response"]["output"][0]["content"][0]["text"] == "1. 3x + 5 = 20\n"
    assert failed["response"]["output"][0]["status"] == "incomplete"


def test_a_stream_that_fails_before_starting_still_opens_the_response() -> None:
    events = events_of(rs.ResponseEvents("m", {"input": ASK}).error("slow down", "upstream_rate_limited"))
    assert [e["type"] for e in events] == ["response.created", "error", "response.failed"]
    assert events[-1]["response"]["error"]["code"] == "rate_limit_exceeded" and events[-1]["response"]["output"] == []


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=200))
def test_any_answer_streams_back_to_itself(text: str) -> None:
    result = Result(text=text, path=Route.MISS, family="generic")
    events = events_of(rs.response_stream(result, model="m", request_body={"input": ASK}))
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == text
    assert accumulated(events).output_text == text


# -- the SDK's own client, reading these bodies as it would from the proxy -------------------------
RESULT_JSON = Result(text="", path=Route.REUSE, family="json", entry="e2", steps=StepCounts(1, 0, 1))


class Answer(pydantic.BaseModel):
    x: int


def sdk_client(reply: Callable[[dict[str, Any]], httpx2.Response]) -> openai.OpenAI:
    def handle(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/responses"
        return reply(json.loads(request.content))

    transport = httpx2.MockTransport(handle)
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://proxy.test/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
        _strict_response_validation=True,
    )


def answer(text: str) -> Callable[[dict[str, Any]], httpx2.Response]:
    def reply(body: dict[str, Any]) -> httpx2.Response:
        result = dataclasses.replace(RESULT_JSON, text=text)
        parsed = rs.parse_responses(body, namespace="ns", settings=SETTINGS).inbound
        assert parsed.request is not None, parsed.bypass_reason
        if parsed.stream:
            sse = rs.response_stream(result, model=parsed.model, request_body=body)
            return httpx2.Response(200, content=sse.encode(), headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, json=rs.response_object(result, model=parsed.model, request_body=body))

    return reply


@pytest.fixture
def client() -> Iterator[openai.OpenAI]:
    with sdk_client(answer('{"x": 5}')) as sdk:
        yield sdk


def test_the_sdk_reads_a_response(client: openai.OpenAI) -> None:
    response = client.responses.create(model="m", input=ASK, instructions="JSON only", max_output_tokens=50)
    assert response.output_text == '{"x": 5}' and response.status == "completed"
    assert response.model_extra == {"stepcache": RESULT_JSON.metadata()}


def test_the_sdk_parses_structured_output(client: openai.OpenAI) -> None:
    response = client.responses.parse(model="m", input=ASK, text_format=Answer)
    assert response.output_parsed == Answer(x=5)


def test_the_sdk_reads_a_stream(client: openai.OpenAI) -> None:
    kinds = [event.type for event in client.responses.create(model="m", input=ASK, stream=True)]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    with client.responses.stream(model="m", input=ASK, text_format=Answer) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == '{"x": 5}' and final.output_parsed == Answer(x=5)
    assert final.model_extra == {"stepcache": RESULT_JSON.metadata()}


def test_public_names_are_pinned() -> None:
    assert rs.__all__ == [
        "ResponsesWriter",
        "UPSTREAM_PATH",
        "ResponsesInbound",
        "parse_responses",
        "response_object",
        "ResponseEvents",
        "response_stream",
        "usage_of",
    ]
    assert rs.UPSTREAM_PATH == "responses"
