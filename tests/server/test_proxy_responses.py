"""POST /v1/responses through the proxy, driven by the official openai SDK: answered through the
cache like chat (same paths, same verification), streamed with the Responses event types, and
forwarded unchanged to the upstream's /responses when it holds what the cache must not answer."""

from __future__ import annotations

import json

import httpx
from proxy_harness import FakeUpstream, MakeProxy

from stepcache import MemoryStore, ScriptedBackend, StepCache
from stepcache.server import ServerSettings, create_app


def test_responses_create_is_answered_through_the_cache(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy()
    client = proxy.client()
    first = client.responses.with_raw_response.create(model="m", input="Solve 3x + 5 = 20", instructions="Be brief.")
    assert first.headers["x-stepcache-path"] == "miss"
    answer = first.parse()
    assert answer.output_text.endswith("x = 5") and answer.status == "completed"
    assert answer.usage is not None and answer.usage.total_tokens == 15
    assert upstream.calls[0]["messages"][0]["content"].startswith("Be brief.")  # instructions: a system message
    again = client.responses.with_raw_response.create(model="m", input="Solve 4x + 2 = 30", instructions="Be brief.")
    assert again.headers["x-stepcache-path"] == "reuse" and again.parse().output_text.endswith("x = 7")
    assert json.loads(again.content)["stepcache"]["path"] == "reuse"
    assert len(upstream.calls) == 1


def test_a_streamed_response_sends_steps_as_responses_events(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    upstream.token_delay = 0.01
    client = make_proxy().client()
    kinds: list[str] = []
    text = ""
    with client.responses.stream(model="m", input=[{"role": "user", "content": "Solve 2x + 4 = 10"}]) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") >= 2  # steps as they verified, not one lump
    assert text == final.output_text and text.endswith("x = 3")
    assert upstream.calls[0]["stream"] is True


def test_json_schema_in_text_format_is_verified_and_reused(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    client = make_proxy().client()
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    fmt = {"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}}
    paths = []
    for who in ("Ada, 36 years old", "Ada, 36 years old"):
        raw = client.responses.with_raw_response.create(model="m", input=f"Extract the person: {who}", text=fmt)  # type: ignore[arg-type]
        paths.append(raw.headers["x-stepcache-path"])
        assert json.loads(raw.parse().output_text) == {"name": "Ada", "age": 36}
    assert paths == ["miss", "reuse"]


def test_stateful_requests_are_forwarded_to_the_upstreams_responses(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    client = make_proxy().client()
    raw = client.responses.with_raw_response.create(model="m", input="hello", previous_response_id="resp_earlier")
    assert raw.headers["x-stepcache-path"] == "bypass"
    assert raw.parse().output_text == "Echo: hello"
    assert upstream.calls[-1]["previous_response_id"] == "resp_earlier"  # forwarded unchanged
    streamed = client.responses.create(model="m", input="hi", previous_response_id="resp_x", stream=True)
    kinds = [event.type for event in streamed]
    assert kinds[-1] == "response.completed"


def test_bad_responses_input_is_a_400_naming_the_field(make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    response = httpx.post(proxy.url + "/v1/responses", json={"model": "m", "input": ""}, timeout=20)
    assert response.status_code == 400 and "input" in response.json()["error"]["message"]


def test_the_embedded_kind_of_backend_answers_responses_too() -> None:
    from proxy_harness import Served

    cache = StepCache(ScriptedBackend(["Waves fold over and over."]), store=MemoryStore())
    served = Served(create_app(cache, ServerSettings()))
    try:
        bypassed = httpx.post(
            served.url + "/v1/responses",
            timeout=20,
            json={
                "model": "m",
                "input": "Describe the sea",
                "temperature": 0.9,
            },
        )
        assert bypassed.headers["x-stepcache-path"] == "bypass"
        assert bypassed.json()["output"][0]["content"][0]["text"] == "Waves fold over and over."
    finally:
        served.stop()
        cache.close()


def test_a_response_served_from_the_cache_can_be_continued(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    client = make_proxy().client()
    client.responses.create(model="m", input="Solve 3x + 5 = 20")
    cached = client.responses.with_raw_response.create(model="m", input="Solve 4x + 2 = 30", instructions="Be brief.")
    assert cached.headers["x-stepcache-path"] == "reuse"
    follow = client.responses.with_raw_response.create(
        model="m", input="Now explain the second step.", previous_response_id=cached.parse().id
    )
    assert follow.status_code == 200
    sent = upstream.calls[-1]
    assert "previous_response_id" not in sent  # the upstream never saw the cached answer's id
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["user", "assistant", "user"]  # the instructions of the first turn are not inherited
    assert sent["messages"][1]["content"].endswith("x = 7")
    unknown = client.responses.with_raw_response.create(model="m", input="hi", previous_response_id="resp_upstream_own")
    assert unknown.headers["x-stepcache-path"] == "bypass"  # the upstream's own ids stay the upstream's
    assert upstream.calls[-1]["previous_response_id"] == "resp_upstream_own"


def test_conversations_are_bounded_expire_and_honour_store_false() -> None:
    from stepcache.server._conversations import Conversations

    now = [0.0]
    memory = Conversations(capacity=2, ttl_s=10, clock=lambda: now[0])
    turn = [{"role": "user", "content": "q"}]
    memory.remember("a", {}, turn, "A")
    memory.remember("b", {"store": False}, turn, "B")
    memory.remember("c", {}, turn, "C")
    memory.remember("d", {}, turn, "D")
    assert len(memory) == 2  # "a" went first
    assert memory.expand({"previous_response_id": "a", "input": "x"}) == {"previous_response_id": "a", "input": "x"}
    assert memory.expand({"previous_response_id": "b", "input": "x"})["previous_response_id"] == "b"  # type: ignore[index]
    assert memory.expand({"previous_response_id": "d", "input": "x"}) == {
        "input": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "D"},
            {"role": "user", "content": "x"},
        ]
    }
    now[0] = 11
    assert "previous_response_id" in memory.expand({"previous_response_id": "d", "input": "x"})  # type: ignore[operator]
