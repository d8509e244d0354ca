"""GenericFamily: the catch-all with exact-only reuse and a byte-exact render round trip."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stepcache._types import ChatRequest, Entry, Scope
from stepcache.families.generic import GenericFamily

family = GenericFamily()


def request(prompt: str, system: str | None = None, **extra: Any) -> ChatRequest:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return ChatRequest.model_validate({"messages": messages, **extra})


def entry_for(prompt: str, text: str, system: str | None = None) -> Entry:
    task = family.detect(request(prompt, system))
    steps = family.segment(task, text)
    return Entry(
        key="k",
        scope=Scope("default", "m", "generic"),
        signature=task.signature,
        prompt=prompt,
        task=dict(task.data),
        steps=tuple(steps),
        text=family.render(task, steps),
        embedding=np.zeros(4, dtype=np.float32),
    )


def test_settings_make_it_the_exact_only_catch_all() -> None:
    assert family.name == "generic"
    assert family.priority == 1000
    assert family.min_similarity > 1.0
    assert GenericFamily(max_repairs=0).max_repairs == 0


def test_detect_accepts_everything_with_a_signature_blind_only_to_meaningless_whitespace() -> None:
    a = family.detect(request("Tell me a  joke\nabout cats."))
    b = family.detect(request("Tell me a   joke \nabout cats.  \n"))
    c = family.detect(request("Tell me a joke about dogs."))
    assert a.family == "generic"
    assert a.signature.startswith("generic|") and len(a.signature) == len("generic|") + 64
    assert a.signature == b.signature != c.signature
    # case, line breaks and a token limit can change the answer: they are part of the signature
    assert family.detect(request("tell me a joke\nabout CATS.")).signature != a.signature
    assert family.detect(request("Tell me a joke about cats.")).signature != a.signature


def test_the_system_message_is_part_of_the_signature() -> None:
    plain = family.detect(request("Tell me a joke."))
    pirate = family.detect(request("Tell me a joke.", system="Talk like a pirate."))
    assert plain.signature != pirate.signature


def test_adapt_reuses_only_the_same_normalised_prompt() -> None:
    cached = entry_for("Tell me a joke about cats.", "Why did the cat...\n\nBecause!")
    same = family.detect(request("  Tell me a joke about   cats.  "))
    other = family.detect(request("Tell me a joke about dogs."))
    other_system = family.detect(request("Tell me a joke about cats.", system="Be brief."))
    loaded = family.load_task(cached.task)
    assert family.adapt(cached, loaded, same) == ["Why did the cat...", "Because!"]
    assert family.adapt(cached, loaded, other) is None
    assert family.adapt(cached, loaded, other_system) is None


def test_verify_accepts_any_non_empty_answer() -> None:
    task = family.detect(request("hi"))
    assert family.verify(task, ["Hello", "", "there"]).ok
    assert not family.verify(task, []).ok
    assert not family.verify(task, ["  ", "\n"]).ok
    assert family.verify(task, []).problems == ("the answer is empty",)


def test_requests_pass_through_unchanged_and_patch_regenerates_everything() -> None:
    req = request("Tell me a joke.", system="Be brief.", model="m1", max_tokens=50, response_format={"type": "text"})
    task = family.detect(req)
    fresh = family.fresh_request(req, task)
    assert fresh.messages == (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me a joke."},
    )
    assert (fresh.model, fresh.max_tokens, fresh.response_format) == ("m1", 50, {"type": "text"})
    report = family.verify(task, [])
    assert family.patch_request(req, task, [], report) == fresh
    assert family.stitch(task, ["old"], report, "new\n\nanswer") == ["new", "answer"]
    assert family.fallback(task) is None


def test_segment_splits_on_blank_lines() -> None:
    task = family.detect(request("hi"))
    assert family.segment(task, "one\ntwo\n\nthree\n\n\nfour") == ["one\ntwo", "three", "\nfour"]
    assert family.segment(task, "") == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", " ", "\n", "\r", "\t", "é", "\n\n"])).map("".join) | st.text())
def test_render_of_segment_gives_back_the_exact_text(text: str) -> None:
    task = family.detect(request("hi"))
    steps = family.segment(task, text)
    assert family.render(task, steps) == text
    assert "\n\n".join(steps) == text
