"""OpenAIHTTPBackend against httpx.MockTransport: the HTTP is faked at the transport, nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from stepcache import _exceptions as exc
from stepcache._types import BackendRequest, Completion
from stepcache.backends import OpenAIHTTPBackend

Handler = Callable[[httpx.Request], httpx.Response]

REQ = BackendRequest(
    messages=({"role": "system", "content": "be brief"}, {"role": "user", "content": "Solve 3x + 5 = 20"}),
    model="client-model",
    max_tokens=64,
    response_format={"type": "json_object"},
    stop=("###",),
)


def chat_answer(text: str, *, prompt: int = 11, completion: int = 7) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "upstream-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def backend(handler: Handler, **kwargs: object) -> OpenAIHTTPBackend:
    return OpenAIHTTPBackend(
        "http://upstream.test/v1",
        transport=httpx.MockTransport(handler),
        retry_backoff=0.0,
        **kwargs,  # type: ignore[arg-type]
    )


def test_complete_posts_chat_body_and_reads_usage() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=chat_answer("x = 5", prompt=13, completion=4))

    with backend(handler, api_key="operator-key") as b:
        out = b.complete(REQ)

    assert out.text == "x = 5"
    assert (out.prompt_tokens, out.completion_tokens) == (13, 4)
    assert out.model == "upstream-model" and out.finish_reason == "stop"
    (request,) = seen
    assert request.method == "POST" and str(request.url) == "http://upstream.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer operator-key"
    body = json.loads(request.content)
    assert body == {
        "model": "client-model",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Solve 3x + 5 = 20"}],
        "temperature": 0.0,
        "max_tokens": 64,
        "response_format": {"type": "json_object"},
        "stop": ["###"],
    }


def test_model_override_and_no_auth_header_without_key() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=chat_answer("ok"))

    b = backend(handler, model="pinned")
    b.complete(REQ)
    b.forward("/chat/completions", {"model": "client", "messages": [], "n": 3})
    assert [body["model"] for body in bodies] == ["pinned", "pinned"]
    assert bodies[1]["n"] == 3


def test_missing_usage_counts_zero() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        answer = chat_answer("hi")
        del answer["usage"]
        return httpx.Response(200, json=answer)

    out = backend(handler).complete(REQ)
    assert (out.prompt_tokens, out.completion_tokens) == (0, 0)


def test_retries_503_then_succeeds() -> None:
    statuses = [503, 503, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        status = statuses.pop(0)
        return httpx.Response(status, json=chat_answer("x = 5") if status == 200 else {"error": "busy"})

    assert backend(handler, max_retries=2).complete(REQ).text == "x = 5"
    assert statuses == []


def test_429_exhaustion_is_retryable_status_error() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(429, json={"error": {"message": "slow down"}})

    with pytest.raises(exc.UpstreamStatusError) as info:
        backend(handler, max_retries=2).complete(REQ)
    assert calls == 3
    assert info.value.status_code == 429 and info.value.retryable
    assert "slow down" in str(info.value) and "429" in str(info.value)


def test_400_is_not_retried_and_not_retryable() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"error": {"message": "bad model"}})

    with pytest.raises(exc.UpstreamStatusError) as info:
        backend(handler).complete(REQ)
    assert calls == 1 and not info.value.retryable and info.value.status_code == 400


def test_read_timeout_becomes_upstream_timeout_without_retry() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("too slow", request=request)

    with pytest.raises(exc.UpstreamTimeout) as info:
        backend(handler).complete(REQ)
    assert calls == 1 and info.value.retryable
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_connect_errors_are_retried_then_reported() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(exc.BackendError) as info:
        backend(handler, max_retries=1).complete(REQ)
    assert calls == 2 and info.value.retryable
    assert "--upstream" in str(info.value)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": None}}]}),
    ],
    ids=["html", "array", "no-choices", "null-content"],
)
def test_garbage_is_protocol_error(response: httpx.Response) -> None:
    with pytest.raises(exc.UpstreamProtocolError):
        backend(lambda request: response).complete(REQ)


def test_complete_text_models_and_forward() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "a"}, {"id": "b"}]})
        body = json.loads(request.content)
        if request.url.path == "/v1/completions":
            assert body["prompt"] == "2 + 2 =" and body["max_tokens"] == 3
            return httpx.Response(
                200,
                json={
                    "choices": [{"text": " 4", "finish_reason": "length"}],
                    "usage": {"prompt_tokens": 4, "completion_tokens": 1},
                },
            )
        return httpx.Response(200, json={"echo": body})

    b = backend(handler)
    text = b.complete_text("2 + 2 =", max_tokens=3)
    assert (text.text, text.prompt_tokens, text.completion_tokens, text.finish_reason) == (" 4", 4, 1, "length")
    assert b.models() == ["a", "b"]
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}
    assert b.forward("chat/completions", body) == {"echo": body}


def test_rejects_non_http_base_url() -> None:
    with pytest.raises(ValueError, match="http"):
        OpenAIHTTPBackend("127.0.0.1:8080")


def test_an_upstream_dripping_its_answer_hits_the_total_deadline() -> None:
    import time

    class Drip(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            for byte in json.dumps(chat_answer("x = 5")).encode():
                time.sleep(0.02)  # each wait far inside the per-read timeout
                yield bytes([byte])

    b = backend(lambda request: httpx.Response(200, stream=Drip()), timeout=5.0, deadline=0.2)
    with pytest.raises(exc.UpstreamTimeout, match="deadline"):
        b.complete(REQ)
    assert (
        backend(lambda request: httpx.Response(200, json=chat_answer("x = 5")), deadline=0.2).complete(REQ).text
        == "x = 5"
    )
    with pytest.raises(ValueError, match="deadline"):
        backend(lambda request: httpx.Response(200), deadline=0)


# -- streaming -----------------------------------------------------------------------------------


def sse_events(*events: object, done: bool = True) -> list[bytes]:
    lines = [f"data: {json.dumps(e)}\n\n".encode() for e in events]
    return lines + ([b"data: [DONE]\n\n"] if done else [])


def chunk(content: str | None = None, finish: str | None = None, **extra: object) -> dict[str, object]:
    delta = {} if content is None else {"content": content}
    return {
        "object": "chat.completion.chunk",
        "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def streaming(events: list[bytes], seen: list[httpx.Request] | None = None, status: int = 200) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, headers={"content-type": "text/event-stream"}, content=iter(events))

    return handle


def test_stream_yields_pieces_then_the_completion_with_the_upstreams_usage() -> None:
    seen: list[httpx.Request] = []
    usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    events = sse_events(chunk("x "), chunk("= "), chunk("5", "stop"), {"choices": [], "usage": usage})
    items = list(backend(streaming(events, seen)).stream(REQ))
    assert items[:-1] == ["x ", "= ", "5"]
    assert items[-1] == Completion(text="x = 5", prompt_tokens=9, completion_tokens=3, model="up", finish_reason="stop")
    body = json.loads(seen[0].content)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_a_stream_cut_before_its_finish_is_an_error_not_an_answer() -> None:
    events = sse_events(chunk("x = "), done=False)
    with pytest.raises(exc.UpstreamProtocolError, match="cut short"):
        list(backend(streaming(events)).stream(REQ))


def test_an_error_event_mid_stream_and_garbage_are_backend_errors() -> None:
    with pytest.raises(exc.UpstreamStatusError, match="mid-stream"):
        list(backend(streaming(sse_events(chunk("x"), {"error": {"message": "overloaded"}}))).stream(REQ))
    with pytest.raises(exc.UpstreamProtocolError, match="not JSON"):
        list(backend(streaming([b"data: {oops\n\n"])).stream(REQ))


def test_an_upstream_that_ignores_stream_answers_in_one_piece() -> None:
    items = list(backend(lambda r: httpx.Response(200, json=chat_answer("x = 5"))).stream(REQ))
    assert items[0] == "x = 5" and items[-1].text == "x = 5"  # type: ignore[union-attr]


def test_stream_errors_before_the_first_byte_are_mapped_and_retried_like_calls() -> None:
    attempts: list[int] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            return httpx.Response(503, json={"error": {"message": "busy"}})
        return streaming(sse_events(chunk("ok", "stop")))(request)

    assert list(backend(flaky).stream(REQ))[0] == "ok" and len(attempts) == 2
    with pytest.raises(exc.UpstreamStatusError) as caught:
        list(backend(lambda r: httpx.Response(400, json={"error": {"message": "bad"}})).stream(REQ))
    assert caught.value.status_code == 400


def test_forward_stream_relays_the_upstreams_bytes_unchanged() -> None:
    events = sse_events(chunk("a"), chunk("b", "stop"))
    seen: list[httpx.Request] = []
    relayed = b"".join(
        backend(streaming(events, seen), model="pinned").forward_stream(
            "chat/completions", {"model": "m", "stream": True}
        )
    )
    assert relayed == b"".join(events)
    assert json.loads(seen[0].content)["model"] == "pinned"


def test_closing_a_stream_early_closes_the_upstream_response() -> None:
    closed: list[bool] = []

    class Events(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield from sse_events(chunk("a"), chunk("b"), chunk("c", "stop"))

        def close(self) -> None:
            closed.append(True)

    handler = lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Events())  # noqa: E731
    stream = backend(handler).stream(REQ)
    assert next(stream) == "a"
    stream.close()  # type: ignore[attr-defined]
    assert closed == [True]


def test_a_server_that_refuses_stream_options_is_asked_again_without() -> None:
    seen: list[dict[str, object]] = []

    def old_server(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if "stream_options" in body:
            return httpx.Response(400, json={"error": {"message": "unknown field stream_options"}})
        return streaming(sse_events(chunk("x = 5", "stop")))(request)

    http = backend(old_server)
    assert list(http.stream(REQ))[0] == "x = 5"
    assert list(http.stream(REQ))[0] == "x = 5"
    assert ["stream_options" in b for b in seen] == [True, False, False]  # remembered
