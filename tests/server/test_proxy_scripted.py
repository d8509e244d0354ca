"""The app in process (httpx's ASGI transport) over the public ScriptedBackend, which cannot forward raw bodies."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from stepcache._engine import StepCache
from stepcache._exceptions import UpstreamTimeout
from stepcache.backends import ScriptedBackend
from stepcache.server import ServerSettings, create_app
from stepcache.store.memory import MemoryStore


def post(cache: StepCache, body: dict[str, Any], settings: ServerSettings | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(cache, settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            return await client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer k"})

    return asyncio.run(go())


def test_bypass_without_forward_answers_the_text_through_complete() -> None:
    backend = ScriptedBackend()
    backend.enqueue("a sampled answer", prompt_tokens=4, completion_tokens=3)
    cache = StepCache(backend, store=MemoryStore())
    body = {
        "model": "m",
        "messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "Tell me a story"}],
        "temperature": 0.8,
        "stop": ["THE END"],
        "max_tokens": 20,
    }
    response = post(cache, body)
    assert response.status_code == 200 and response.headers["x-stepcache-path"] == "bypass"
    data = response.json()
    assert data["choices"][0]["message"]["content"] == "a sampled answer"
    assert data["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    assert data["stepcache"]["path"] == "bypass" and "temperature" in data["stepcache"]["detail"]
    (call,) = backend.calls
    assert call.messages == ({"role": "system", "content": "be brief"}, {"role": "user", "content": "Tell me a story"})
    assert (call.temperature, call.stop, call.max_tokens) == (0.8, ("THE END",), 20)
    assert cache.store.stats().entries == 0


def test_backend_errors_map_to_status_codes_in_process() -> None:
    backend = ScriptedBackend()
    backend.enqueue_error(UpstreamTimeout("no answer within 1s"))
    cache = StepCache(backend, store=MemoryStore())
    response = post(cache, {"model": "m", "messages": [{"role": "user", "content": "Solve 2x = 8"}]})
    assert response.status_code == 504 and "no answer within 1s" in response.json()["error"]["message"]
    assert "x-stepcache-path" not in response.headers


def test_cache_disabled_forwards_everything() -> None:
    backend = ScriptedBackend(["1. 2x = 8\n2. x = 4", "1. 2x = 8\n2. x = 4"])
    cache = StepCache(backend, store=MemoryStore())
    body = {"model": "m", "messages": [{"role": "user", "content": "Solve 2x = 8"}]}
    paths = [post(cache, body, ServerSettings(cache_enabled=False)).headers["x-stepcache-path"] for _ in range(2)]
    assert paths == ["bypass", "bypass"] and len(backend.calls) == 2
