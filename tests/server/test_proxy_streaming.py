"""Streaming through the proxy against a fake upstream that streams a word at a time: text reaches
the client while the upstream is still writing, a failing step never does, and a client that hangs
up stops the upstream."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from proxy_harness import FakeUpstream, MakeProxy, Proxy

from stepcache import MemoryStore, ScriptedBackend, StepCache
from stepcache.server import ServerSettings, create_app

LINEAR = {"model": "m", "messages": [{"role": "user", "content": "Solve 3x + 5 = 20"}], "stream": True}
PROSE = {
    "model": "m",
    "messages": [{"role": "user", "content": "Write a few words about the sea, please."}],
    "stream": True,
}


def read_stream(
    proxy: Proxy, body: dict[str, Any], upstream: FakeUpstream
) -> tuple[httpx.Response, list[dict[str, Any]], list[dict[str, Any]]]:
    """The response, its data events, and a snapshot of the upstream's stream records taken when
    the first piece of text arrived."""
    events: list[dict[str, Any]] = []
    at_first_text: list[dict[str, Any]] = []
    with httpx.stream("POST", proxy.url + "/v1/chat/completions", json=body, timeout=30) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            events.append(event)
            text = "".join((c.get("delta") or {}).get("content") or "" for c in event.get("choices") or [])
            if text and not at_first_text:
                at_first_text = [dict(r) for r in upstream.streams]
    return response, events, at_first_text


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join((c.get("delta") or {}).get("content") or "" for e in events for c in e.get("choices") or [])


@pytest.mark.parametrize("body", [PROSE, {**PROSE, "temperature": 0.7}], ids=["generic-miss", "bypass"])
def test_text_reaches_the_client_while_the_upstream_is_still_writing(
    make_proxy: MakeProxy, upstream: FakeUpstream, body: dict[str, Any]
) -> None:
    upstream.token_delay = 0.05
    response, events, at_first = read_stream(make_proxy(), body, upstream)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert at_first and at_first[0]["end"] == "running"  # the upstream had more to write
    assert text_of(events).startswith("Echo: Write a few words")
    assert upstream.streams[0]["end"] == "done"


def test_a_linear_miss_sends_verified_steps_early_and_never_the_failing_one(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    upstream.token_delay = 0.02
    upstream.wrong_line = 2  # "2. 3x = 16": the model's slip
    proxy = make_proxy()
    response, events, at_first = read_stream(proxy, LINEAR, upstream)
    assert response.headers["x-stepcache-path"] == "miss"
    text = text_of(events)
    assert "16" not in text and text.endswith("x = 5")
    assert at_first[0]["end"] == "running"  # step 1 was sent before the upstream reached its slip
    assert upstream.streams[0]["end"] == "cancelled"  # closed at the failing step, then patched
    assert events[-1]["stepcache"]["path"] == "miss" and events[-1]["stepcache"]["steps"]["total"] >= 3
    again = httpx.post(proxy.url + "/v1/chat/completions", json={**LINEAR, "stream": False}, timeout=30).json()
    assert again["choices"][0]["message"]["content"] == text  # what was streamed is what was stored


def test_a_client_that_hangs_up_stops_the_upstream_and_nothing_is_stored(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    upstream.token_delay = 0.1
    proxy = make_proxy()
    with httpx.stream("POST", proxy.url + "/v1/chat/completions", json=PROSE, timeout=30) as response:
        for line in response.iter_lines():
            if '"content":"Echo' in line.replace(" ", ""):
                break  # hang up after the first words
    deadline = time.monotonic() + 5
    while upstream.streams[0]["end"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.streams[0]["end"] == "cancelled"
    assert proxy.cache.store.stats().entries == 0


def test_the_sdk_reads_a_streamed_miss_and_reuse_as_it_reads_unstreamed_ones(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    proxy = make_proxy()
    client = proxy.client()
    messages = [{"role": "user", "content": "Solve 4x + 2 = 30"}]
    streamed = [
        c
        for c in client.chat.completions.create(
            model="m", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    ]  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert streamed[-1].usage is not None and streamed[-1].usage.total_tokens == 15
    plain = client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    assert plain.choices[0].message.content == text
    reused = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Solve 5x + 1 = 11"}], stream=True
    )  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in reused if c.choices).endswith("x = 2")


def test_an_upstream_error_before_the_first_token_is_an_http_error(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    upstream.mode = "status500"
    response = httpx.post(make_proxy().url + "/v1/chat/completions", json=PROSE, timeout=30)
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_status"


def test_a_backend_without_raw_forwarding_streams_bypassed_requests_too() -> None:
    from proxy_harness import Served

    backend = ScriptedBackend(["one two three four"])
    cache = StepCache(backend, store=MemoryStore())
    served = Served(create_app(cache, ServerSettings()))
    try:
        body = {**PROSE, "temperature": 0.9, "stream_options": {"include_usage": True}}
        with httpx.stream("POST", served.url + "/v1/chat/completions", json=body, timeout=30) as response:
            events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
        assert response.headers["x-stepcache-path"] == "bypass"
        assert text_of(events) == "one two three four" and len([e for e in events if e["choices"]]) >= 5
        assert events[-1]["usage"]["completion_tokens"] == 4
    finally:
        served.stop()
        cache.close()


def test_a_non_streamed_request_abandoned_by_its_client_stops_the_upstream(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    upstream.token_delay = 0.1  # ~2 s of answer
    proxy = make_proxy()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(proxy.url + "/v1/chat/completions", json={**PROSE, "stream": False}, timeout=0.6)
    deadline = time.monotonic() + 5
    while (not upstream.streams or upstream.streams[0]["end"] == "running") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.streams[0]["end"] == "cancelled"
    assert proxy.cache.store.stats().entries == 0


def test_an_identical_request_still_waiting_keeps_the_shared_call_alive(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    import threading

    upstream.token_delay = 0.15  # ~1.5 s of answer
    proxy = make_proxy()
    body = {**PROSE, "stream": False}
    patient: list[httpx.Response] = []
    waiter = threading.Thread(
        target=lambda: patient.append(httpx.post(proxy.url + "/v1/chat/completions", json=body, timeout=30))
    )
    waiter.start()
    time.sleep(0.2)
    with pytest.raises(httpx.ReadTimeout):  # a second, identical request gives up early
        httpx.post(proxy.url + "/v1/chat/completions", json=body, timeout=0.4)
    waiter.join()
    assert patient[0].status_code == 200 and patient[0].json()["choices"][0]["message"]["content"].startswith("Echo")
    assert len(upstream.streams) == 1 and upstream.streams[0]["end"] == "done"
