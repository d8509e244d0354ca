"""32 concurrent clients: no errors, and identical in-flight misses make one upstream call."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import openai
from proxy_harness import FakeUpstream, MakeProxy

QUESTION = "Solve 7x + 3 = 45"


async def _ask_all(url: str, prompts: list[str], key: str = "sk-load") -> list[tuple[str, str]]:
    """(path header, answer text) for each prompt, all sent at once."""
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30) as client:

        async def one(prompt: str) -> tuple[str, str]:
            raw = await client.chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": prompt}]
            )
            return raw.headers["x-stepcache-path"], raw.parse().choices[0].message.content or ""

        return await asyncio.gather(*(one(p) for p in prompts))


def test_32_identical_concurrent_misses_make_one_upstream_call(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy()
    upstream.delay = 0.5  # keep the leader in flight while the others arrive
    results = asyncio.run(_ask_all(proxy.url, [QUESTION] * 32))
    assert len(upstream.calls) == 1
    assert {text for _, text in results} == {"1. 7x + 3 = 45\n2. 7x = 42\n3. x = 6"}
    assert Counter(path for path, _ in results) == {"miss": 1, "reuse": 31}
    metrics = httpx.get(proxy.url + "/metrics").text
    assert 'stepcache_requests_total{endpoint="chat",path="reuse"} 31' in metrics
    stats = proxy.cache.store.stats()
    assert stats.entries == 1 and stats.paths == {"miss": 1, "reuse": 31}


def test_mixed_concurrent_prompts_each_go_upstream_once(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy()
    upstream.delay = 0.3
    questions = [
        "What is the capital of France?",
        "Name a prime number larger than 100.",
        "Who wrote Hamlet?",
        "Describe the colour of the sky at noon.",
    ]
    results = asyncio.run(_ask_all(proxy.url, questions * 8))
    assert Counter(upstream.prompts()) == {q: 1 for q in questions}
    for (path, text), question in zip(results, questions * 8, strict=True):
        assert text == f"Echo: {question}" and path in ("miss", "reuse")


def test_without_coalescing_identical_misses_stampede(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    """The control: the first test would fail if coalescing did nothing."""
    proxy = make_proxy(coalesce=False)
    upstream.delay = 0.5
    results: list[Any] = asyncio.run(_ask_all(proxy.url, [QUESTION] * 8))
    assert len(results) == 8
    assert len(upstream.calls) > 1


def test_coalesced_waiters_share_the_leaders_error(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy()
    upstream.mode, upstream.delay = "status500", 0.5

    async def ask() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            body = {"model": "m", "messages": [{"role": "user", "content": QUESTION}]}
            responses = await asyncio.gather(
                *(client.post(proxy.url + "/v1/chat/completions", json=body) for _ in range(16))
            )
            return [r.status_code for r in responses]

    assert asyncio.run(ask()) == [502] * 16
    assert len(upstream.calls) == 1
