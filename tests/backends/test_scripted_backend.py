from __future__ import annotations

import threading

import pytest

from stepcache._exceptions import BackendError, UpstreamTimeout
from stepcache._types import BackendRequest
from stepcache.backends import Backend, ScriptedBackend


def req(text: str) -> BackendRequest:
    return BackendRequest(messages=({"role": "user", "content": text},), model="m")


def test_replies_in_order_with_token_counts_and_calls_recorded() -> None:
    b = ScriptedBackend(["first answer"])
    b.enqueue("second", prompt_tokens=10, completion_tokens=2)
    one = b.complete(req("three word prompt"))
    two = b.complete(req("q"))
    assert (one.text, one.prompt_tokens, one.completion_tokens, one.model) == ("first answer", 3, 2, "m")
    assert (two.text, two.prompt_tokens, two.completion_tokens) == ("second", 10, 2)
    assert [c.messages[0]["content"] for c in b.calls] == ["three word prompt", "q"]
    assert b.pending == 0 and isinstance(b, Backend)


def test_empty_queue_says_how_to_fix() -> None:
    b = ScriptedBackend()
    with pytest.raises(BackendError, match=r"enqueue"):
        b.complete(req("hello"))
    assert len(b.calls) == 1


def test_enqueued_error_is_raised_in_turn() -> None:
    b = ScriptedBackend()
    b.enqueue_error(UpstreamTimeout("slow"))
    b.enqueue("fine")
    with pytest.raises(UpstreamTimeout):
        b.complete(req("a"))
    assert b.complete(req("b")).text == "fine"


def test_responder_used_when_queue_empty() -> None:
    b = ScriptedBackend(["queued"], responder=lambda r: r.messages[-1]["content"].upper())
    assert b.complete(req("x")).text == "queued"
    assert b.complete(req("echo me")).text == "ECHO ME"
    assert b.models() == ["scripted"]


def test_thread_safe_each_reply_served_once() -> None:
    b = ScriptedBackend([str(i) for i in range(200)])
    got: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            text = b.complete(req("q")).text
            with lock:
                got.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got, key=int) == [str(i) for i in range(200)]
    assert len(b.calls) == 200
