"""The OpenAI ⇄ StepCache translation alone: no HTTP, no engine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepcache._exceptions import InvalidRequest
from stepcache._types import Result, Route, StepCounts, TokenUsage
from stepcache.server import ServerSettings
from stepcache.server import _openai as oa

SETTINGS = ServerSettings()
USER = [{"role": "user", "content": "Solve 3x + 5 = 20"}]


def chat(body: dict[str, Any], settings: ServerSettings = SETTINGS) -> oa.Inbound:
    return oa.parse_chat(body, namespace="ns", settings=settings)


def test_plain_chat_becomes_a_chat_request() -> None:
    inbound = chat(
        {
            "model": "m1",
            "messages": [
                {"role": "developer", "content": "be terse"},
                {"role": "user", "content": [{"type": "text", "text": "Solve "}, {"type": "text", "text": "x = 1"}]},
            ],
            "max_completion_tokens": 50,
            "temperature": 0,
            "seed": 7,
            "stream": True,
            "stream_options": {"include_usage": True},
            "response_format": {"type": "text"},
        }
    )
    assert inbound.request is not None and inbound.bypass_reason == ""
    req = inbound.request
    assert [(m.role, m.content) for m in req.messages] == [("system", "be terse"), ("user", "Solve x = 1")]
    assert (req.model, req.namespace, req.max_tokens, req.response_format) == ("m1", "ns", 50, None)
    assert inbound.stream and inbound.include_usage and inbound.model == "m1"


def test_upstream_model_pin_overrides_the_client_model() -> None:
    inbound = chat({"model": "gpt-4o", "messages": USER}, ServerSettings(upstream_model="qwen"))
    assert inbound.request is not None and inbound.request.model == "qwen" == inbound.model


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"temperature": 0.7}, "temperature"),
        ({"n": 2}, "n > 1"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"tool_choice": "auto"}, "tools"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 2}, "logprobs"),
        ({"stop": ["\n"]}, "stop"),
        ({"guided_json": {}}, "guided_json"),
    ],
)
def test_bypass_rules(extra: dict[str, Any], reason: str) -> None:
    inbound = chat({"model": "m", "messages": USER, **extra})
    assert inbound.request is None and reason in inbound.bypass_reason


def test_sampling_is_cached_when_the_operator_opts_in() -> None:
    inbound = chat({"messages": USER, "temperature": 0.9}, ServerSettings(allow_sampling_cache=True))
    assert inbound.request is not None


def test_tool_messages_and_images_bypass() -> None:
    tool = chat({"messages": USER + [{"role": "tool", "content": "42", "tool_call_id": "c1"}]})
    image = chat({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}}]}]})
    assert tool.request is None and "tools" in tool.bypass_reason
    assert image.request is None and "image_url" in image.bypass_reason


def test_disabled_cache_bypasses_everything() -> None:
    inbound = chat({"messages": USER}, ServerSettings(cache_enabled=False))
    assert inbound.request is None and "disabled" in inbound.bypass_reason


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ([1, 2], None, "JSON object"),
        ({"model": "m"}, "messages", "'messages' is required"),
        ({"messages": []}, "messages", "non-empty list"),
        ({"messages": ["hi"]}, "messages[0]", "must be an object"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role", "role is required"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role", "'robot'"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "not a number"),
        ({"messages": [{"role": "system", "content": "only system"}]}, "messages", "user"),
        ({"messages": USER, "temperature": "hot"}, "temperature", "number from 0 to 2"),
        ({"messages": USER, "max_tokens": 0}, "max_tokens", "integer >= 1"),
        ({"messages": USER, "stream": "yes"}, "stream", "true or false"),
        ({"messages": USER, "model": 3}, "model", "string"),
        ({"messages": USER, "response_format": {"type": "yaml"}}, "response_format.type", "'yaml'"),
        ({"messages": USER, "response_format": {"type": "json_schema"}}, "response_format.json_schema", "'schema'"),
        (
            {
                "messages": USER,
                "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "banana"}}},
            },
            "response_format.json_schema.schema",
            "not a valid JSON Schema",
        ),
    ],
)
def test_bad_input_says_what_is_wrong(body: object, param: str | None, words: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        oa.parse_chat(body, namespace="ns", settings=SETTINGS)
    assert info.value.param == param
    assert words in str(info.value)


def test_json_schema_kept_as_given() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "strict": True, "schema": {"type": "object"}}}
    inbound = chat({"messages": USER, "response_format": fmt})
    assert inbound.request is not None and inbound.request.response_format == fmt


def test_text_completion_prompt_becomes_one_user_message() -> None:
    inbound = oa.parse_text(
        {"model": "m", "prompt": ["Solve 2x = 4"], "max_tokens": 9}, namespace="n", settings=SETTINGS
    )
    assert inbound.request is not None and inbound.endpoint == "text"
    assert [(m.role, m.content) for m in inbound.request.messages] == [("user", "Solve 2x = 4")]
    many = oa.parse_text({"prompt": ["a", "b"]}, namespace="n", settings=SETTINGS)
    echo = oa.parse_text({"prompt": "a", "echo": True}, namespace="n", settings=SETTINGS)
    assert many.request is None and echo.request is None
    with pytest.raises(InvalidRequest, match="'prompt' is required"):
        oa.parse_text({"model": "m"}, namespace="n", settings=SETTINGS)


def test_coalesce_key_depends_on_namespace_and_body() -> None:
    a = oa.parse_chat({"messages": USER}, namespace="a", settings=SETTINGS).coalesce_key()
    a2 = oa.parse_chat({"messages": list(USER)}, namespace="a", settings=SETTINGS).coalesce_key()
    a3 = oa.parse_chat({"messages": USER, "seed": 1}, namespace="a", settings=SETTINGS).coalesce_key()
    b = oa.parse_chat({"messages": USER}, namespace="b", settings=SETTINGS).coalesce_key()
    assert a == a2 and a != b and a != a3


RESULT = Result(
    text="1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5",
    path=Route.MISS,
    family="linear",
    steps=StepCounts(0, 3, 3),
    upstream_tokens=TokenUsage(12, 8),
)


def test_chat_completion_body() -> None:
    body = oa.chat_completion(RESULT, model="m")
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {"role": "assistant", "content": RESULT.text}
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}
    assert body["stepcache"]["path"] == "miss" and body["stepcache"]["steps"] == {"reused": 0, "patched": 3, "total": 3}


def _events(chunks: list[str]) -> list[Any]:
    assert all(c.startswith("data: ") and c.endswith("\n\n") for c in chunks)
    assert chunks[-1] == oa.DONE
    return [json.loads(c[len("data: ") :]) for c in chunks[:-1]]


def test_chat_chunks_rebuild_the_text_and_end_with_done() -> None:
    events = _events(oa.chat_chunks(RESULT, model="m", include_usage=True))
    assert {e["object"] for e in events} == {"chat.completion.chunk"}
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == RESULT.text
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-2]["choices"][0]["finish_reason"] == "stop" and events[-2]["stepcache"]["path"] == "miss"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] == 20


def test_text_chunks() -> None:
    events = _events(oa.text_chunks(RESULT, model="m", include_usage=False))
    assert "".join(e["choices"][0]["text"] for e in events) == RESULT.text


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=200))
def test_streamed_chunks_always_reassemble_the_answer(text: str) -> None:
    result = Result(text=text, path=Route.REUSE, family="generic")
    chat_events = _events(oa.chat_chunks(result, model="m", include_usage=False))
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in chat_events) == text
    text_events = _events(oa.text_chunks(result, model="m", include_usage=False))
    assert "".join(e["choices"][0]["text"] for e in text_events) == text


def test_public_names_are_pinned() -> None:
    import stepcache.server

    assert stepcache.server.__all__ == ["ServerSettings", "app_from_env", "create_app", "run", "run_workers"]
    with pytest.raises(ValueError, match="extra"):
        ServerSettings(prot=8000)  # type: ignore[call-arg]
