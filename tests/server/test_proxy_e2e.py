"""The proxy end to end: the official openai SDK → StepCache proxy (uvicorn) → fake upstream (uvicorn)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from proxy_harness import OPERATOR_KEY, FakeUpstream, MakeProxy, Proxy

SOLVE_A = "Solve 3x + 5 = 20"
SOLVE_B = "Solve 4x + 2 = 30"


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def meta(completion: Any) -> dict[str, Any]:
    data: dict[str, Any] = completion.to_dict()["stepcache"]
    return data


def test_miss_then_reuse_with_path_header_metadata_and_usage(proxy: Proxy, upstream: FakeUpstream) -> None:
    client = proxy.client()
    raw = client.chat.completions.with_raw_response.create(model="m", messages=user(SOLVE_A))
    first = raw.parse()
    assert raw.headers["x-stepcache-path"] == "miss"
    assert first.choices[0].message.content is not None and first.choices[0].message.content.endswith("x = 5")
    assert first.usage is not None and first.usage.total_tokens == 15
    assert meta(first)["path"] == "miss" and meta(first)["entry"] is None and meta(first)["family"] == "linear"

    raw = client.chat.completions.with_raw_response.create(model="m", messages=user(SOLVE_B))
    second = raw.parse()
    assert raw.headers["x-stepcache-path"] == "reuse"
    assert second.choices[0].message.content == "1. 4x + 2 = 30\n2. 4x = 28\n3. x = 7"
    assert second.usage is not None and (second.usage.prompt_tokens, second.usage.completion_tokens) == (0, 0)
    m = meta(second)
    assert m["path"] == "reuse" and m["entry"] is not None and m["steps"] == {"reused": 3, "patched": 0, "total": 3}
    assert m["upstream_tokens"] == {"prompt": 0, "completion": 0} and m["fallback"] is False
    assert len(upstream.calls) == 1
    # The operator's key goes upstream; the client's never does.
    assert upstream.auth == [f"Bearer {OPERATOR_KEY}"]


def test_word_problem_instances_are_reused_after_a_confirming_answer(proxy: Proxy, upstream: FakeUpstream) -> None:
    client = proxy.client()
    asked = [("Maya", 3, 4, 2, 5), ("Tom", 6, 3, 4, 7), ("Ana", 5, 9, 3, 8)]
    paths, texts = [], []
    for name, a, b, c, d in asked:
        text = f"{name} buys {a} pens at ${b} each and {c} notebooks at ${d} each. How much does {name} spend?"
        raw = client.chat.completions.with_raw_response.create(model="m", messages=user(text))
        paths.append(raw.headers["x-stepcache-path"])
        texts.append(raw.parse().choices[0].message.content or "")
        assert meta(raw.parse())["family"] == "arithmetic"
    assert paths == ["miss", "skip", "reuse"]  # the second answer confirms the first's solution
    assert texts[2].endswith("The answer is 69.") and "Ana spends $45 + $24 = $69" in texts[2]
    assert len(upstream.calls) == 2


def test_streamed_chat_matches_the_non_streamed_answer(proxy: Proxy, upstream: FakeUpstream) -> None:
    client = proxy.client()
    plain = client.chat.completions.create(model="m", messages=user(SOLVE_A)).choices[0].message.content
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=user(SOLVE_B), stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["x-stepcache-path"] == "reuse"
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "1. 4x + 2 = 30\n2. 4x = 28\n3. x = 7" and plain is not None and plain.endswith("x = 5")
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 0
    assert len(upstream.calls) == 1


def test_streamed_miss_ends_with_done(proxy: Proxy) -> None:
    with httpx.stream(
        "POST",
        proxy.url + "/v1/chat/completions",
        json={"model": "m", "messages": user(SOLVE_A), "stream": True},
        headers={"Authorization": "Bearer k"},
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert response.headers["x-stepcache-path"] == "miss"
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    assert events[-1]["stepcache"]["path"] == "miss"


def test_json_schema_strict_is_valid_and_reused(proxy: Proxy, upstream: FakeUpstream) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
    client = proxy.client()
    paths = []
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=user("Describe Ada Lovelace as JSON"), response_format=fmt
        )
        content = raw.parse().choices[0].message.content
        assert content is not None
        jsonschema.validate(json.loads(content), schema)
        paths.append(raw.headers["x-stepcache-path"])
        assert meta(raw.parse())["family"] == "json"
    assert paths == ["miss", "reuse"]
    assert len(upstream.calls) == 1
    assert upstream.calls[0]["response_format"]["type"] == "json_schema"


def test_legacy_completions_endpoint(proxy: Proxy, upstream: FakeUpstream) -> None:
    client = proxy.client()
    first = client.completions.with_raw_response.create(model="m", prompt=SOLVE_A)
    second = client.completions.with_raw_response.create(model="m", prompt=SOLVE_B)
    assert (first.headers["x-stepcache-path"], second.headers["x-stepcache-path"]) == ("miss", "reuse")
    assert second.parse().choices[0].text.endswith("x = 7")
    assert second.parse().object == "text_completion"
    assert len(upstream.calls) == 1


@pytest.mark.parametrize(
    "extra",
    [
        {"temperature": 0.7},
        {"n": 2},
        {"tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]},
        {"logprobs": True},
    ],
    ids=["sampling", "n2", "tools", "logprobs"],
)
def test_bypass_forwards_the_body_unchanged_and_never_caches(
    proxy: Proxy, upstream: FakeUpstream, extra: dict[str, Any]
) -> None:
    client = proxy.client()
    sent = {"model": "m", "messages": user(SOLVE_A), **extra}
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(**sent)
        assert raw.headers["x-stepcache-path"] == "bypass"
        assert meta(raw.parse())["path"] == "bypass"
    assert len(upstream.calls) == 2  # nothing was cached
    assert upstream.calls[0] == sent  # forwarded as sent
    stats = proxy.cache.store.stats()
    assert stats.entries == 0 and stats.paths == {"bypass": 2}  # counted for `stepcache stats`
    completion = raw.parse()
    if "n" in extra:
        assert len(completion.choices) == 2
    if "tools" in extra:
        calls = completion.choices[0].message.tool_calls
        assert calls is not None and calls[0].function.name == "lookup"
    assert completion.usage is not None and completion.usage.total_tokens == 15
    assert proxy.cache.store.stats().entries == 0


def test_streamed_bypass_relays_the_upstreams_stream(proxy: Proxy, upstream: FakeUpstream) -> None:
    client = proxy.client()
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=user(SOLVE_A), temperature=1.0, stream=True
    )
    assert raw.headers["x-stepcache-path"] == "bypass"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text.endswith("x = 5")
    assert upstream.calls[0]["stream"] is True and upstream.streams[0]["end"] == "done"  # relayed as it came


def test_sampling_is_cached_when_the_operator_opts_in(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    client = make_proxy(allow_sampling_cache=True).client()
    paths = [
        client.chat.completions.with_raw_response.create(model="m", messages=user(q), temperature=0.7).headers[
            "x-stepcache-path"
        ]
        for q in (SOLVE_A, SOLVE_B)
    ]
    assert paths == ["miss", "reuse"]


def test_tenants_never_see_each_others_entries(proxy: Proxy, upstream: FakeUpstream) -> None:
    alice = proxy.client("sk-alice")
    assert (
        alice.chat.completions.with_raw_response.create(model="m", messages=user(SOLVE_A)).headers["x-stepcache-path"]
        == "miss"
    )
    # Other tenants ask the very same question, and a look-alike: both must go upstream.
    for key, question in (("sk-bob", SOLVE_A), ("sk-carol", SOLVE_B)):
        raw = proxy.client(key).chat.completions.with_raw_response.create(model="m", messages=user(question))
        assert raw.headers["x-stepcache-path"] == "miss", key
        assert meta(raw.parse())["entry"] is None
    assert len(upstream.calls) == 3
    # Alice's cache still works for her.
    raw = alice.chat.completions.with_raw_response.create(model="m", messages=user(SOLVE_B))
    assert raw.headers["x-stepcache-path"] == "reuse" and len(upstream.calls) == 3


def test_shared_namespace_does_share(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    """The control for the isolation test: with an explicit shared namespace Bob reuses Alice's entry."""
    proxy = make_proxy(shared_namespace="team")
    proxy.client("sk-alice").chat.completions.create(model="m", messages=user(SOLVE_A))
    raw = proxy.client("sk-bob").chat.completions.with_raw_response.create(model="m", messages=user(SOLVE_A))
    assert raw.headers["x-stepcache-path"] == "reuse" and len(upstream.calls) == 1


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": "m"}, "messages", "'messages' is required"),
        ({"model": "m", "messages": "hi"}, "messages", "non-empty list"),
        ({"model": "m", "messages": [{"role": "user", "content": 7}]}, "messages[0].content", "string"),
        (
            {
                "model": "m",
                "messages": user("x"),
                "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": 12}}},
            },
            "response_format.json_schema.schema",
            "not a valid JSON Schema",
        ),
    ],
)
def test_bad_requests_get_openai_style_400(proxy: Proxy, body: dict[str, Any], param: str, words: str) -> None:
    client = proxy.client()
    with pytest.raises(openai.BadRequestError) as info:
        # The SDK's own post(): create() refuses to send some of these bodies at all.
        client.post("/chat/completions", body=body, cast_to=httpx.Response)
    assert info.value.status_code == 400
    error = info.value.body
    assert isinstance(error, dict)
    assert error["type"] == "invalid_request_error" and error["param"] == param and words in error["message"]


def test_raw_400s_for_bad_json_and_oversized_bodies(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy(max_body_bytes=2048)
    url = proxy.url + "/v1/chat/completions"
    bad = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]["message"]
    big = httpx.post(url, json={"model": "m", "messages": user("x" * 5000)})
    assert big.status_code == 400
    assert big.json()["error"]["code"] == "request_too_large" and "2048" in big.json()["error"]["message"]
    assert upstream.calls == []


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [("status500", 502, "upstream_status"), ("garbage", 502, "upstream_bad_response")],
)
def test_upstream_failures_are_502_and_nothing_is_stored(
    proxy: Proxy, upstream: FakeUpstream, mode: str, status: int, code: str
) -> None:
    upstream.mode = mode
    with pytest.raises(openai.APIStatusError) as info:
        proxy.client().chat.completions.create(model="m", messages=user(SOLVE_A))
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict) and info.value.body["code"] == code
    assert proxy.cache.store.stats().entries == 0
    upstream.mode = "ok"
    raw = proxy.client().chat.completions.with_raw_response.create(model="m", messages=user(SOLVE_A))
    assert raw.headers["x-stepcache-path"] == "miss"


def test_upstream_timeout_is_504(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy(timeout=0.3)
    upstream.mode = "slow"
    with pytest.raises(openai.APIStatusError) as info:
        proxy.client().chat.completions.create(model="m", messages=user(SOLVE_A))
    assert info.value.status_code == 504
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "upstream_timeout"
    assert "timed out" in info.value.body["message"]


def test_unverifiable_answer_is_502_with_the_verification_summary(proxy: Proxy, upstream: FakeUpstream) -> None:
    upstream.mode = "wrong"  # prose where JSON is required, every time (repairs included)
    fmt: Any = {"type": "json_object"}
    with pytest.raises(openai.APIStatusError) as info:
        proxy.client().chat.completions.create(
            model="m", messages=user("Give me JSON with keys name and age"), response_format=fmt
        )
    assert info.value.status_code == 502
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "unverifiable_answer"
    assert "verification" in info.value.body["message"]
    assert proxy.cache.store.stats().entries == 0


def test_models_and_healthz(proxy: Proxy) -> None:
    assert [m.id for m in proxy.client().models.list()] == ["fake-model"]
    health = httpx.get(proxy.url + "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_models_falls_back_to_the_pinned_name(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(upstream_url="http://127.0.0.1:9/v1", upstream_model="pinned-model")  # nothing listens
    assert [m.id for m in proxy.client().models.list()] == ["pinned-model"]


def test_metrics_after_traffic(proxy: Proxy, upstream: FakeUpstream) -> None:
    client = proxy.client()
    client.chat.completions.create(model="m", messages=user(SOLVE_A))
    client.chat.completions.create(model="m", messages=user(SOLVE_B))
    client.chat.completions.create(model="m", messages=user(SOLVE_B), temperature=0.5)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=[])
    text = httpx.get(proxy.url + "/metrics").text
    # Values as numbers: prometheus_client writes 1.0 where the hand-written text had 1.
    lines = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    samples = {series: float(value) for series, value in lines}
    assert samples['stepcache_requests_total{endpoint="chat",path="miss"}'] == 1
    assert samples['stepcache_requests_total{endpoint="chat",path="reuse"}'] == 1
    assert samples['stepcache_requests_total{endpoint="chat",path="bypass"}'] == 1
    assert samples['stepcache_request_errors_total{endpoint="chat",status="400"}'] == 1
    assert samples['stepcache_upstream_tokens_spent_total{kind="prompt"}'] == 20  # miss + bypass
    assert samples['stepcache_upstream_tokens_spent_total{kind="completion"}'] == 10
    assert samples["stepcache_upstream_tokens_saved_total"] > 0
    assert samples['stepcache_store_entries{family="all"}'] == 1
    assert samples['stepcache_request_duration_seconds_count{path="reuse"}'] == 1
    assert samples['stepcache_request_duration_seconds_bucket{le="+Inf",path="miss"}'] == 1
    assert "# TYPE stepcache_request_duration_seconds histogram" in text
