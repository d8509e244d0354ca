"""The proxy against clients an operator cannot trust, and against its own store failing.

Access control (API keys per tenant, every key header, no open proxy beyond loopback), a cache key
that holds everything that can change an answer, malformed input that is a 400 and never a 500,
routing errors as OpenAI JSON, and store faults that degrade to uncached answers instead of errors.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_harness import OPERATOR_KEY, FakeUpstream, MakeProxy, Proxy

from stepcache import CacheConfig, MemoryStore, ScriptedBackend, StepCache
from stepcache._exceptions import ConfigurationError, StoreError
from stepcache._types import Entry, Route, TokenUsage
from stepcache.cli import main as cli
from stepcache.server import ServerSettings, create_app
from stepcache.server._auth import hash_key, load_api_keys

KEY_A1, KEY_A2, KEY_B = "sk-team-a-one", "sk-team-a-two", "sk-team-b"
KEYS = {hash_key(KEY_A1): "team-a", hash_key(KEY_A2): "team-a", hash_key(KEY_B): "team-b"}
QUESTION = {"model": "m", "messages": [{"role": "user", "content": "Solve 3x + 5 = 20"}]}


def _post(
    proxy: Proxy, headers: dict[str, str], body: Any = None, path: str = "/v1/chat/completions"
) -> httpx.Response:
    return httpx.post(proxy.url + path, json=QUESTION if body is None else body, headers=headers, timeout=20)


# -- access control ------------------------------------------------------------------------------


def test_with_api_keys_only_listed_keys_are_answered(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(api_keys=KEYS)
    for headers in (
        {},
        {"authorization": "Bearer sk-unknown"},
        {"authorization": "Basic " + base64.b64encode(b"u:p").decode()},
    ):
        response = _post(proxy, headers)
        assert response.status_code == 401, headers
        error = response.json()["error"]
        assert error["code"] == "invalid_api_key" and "key" in error["message"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(proxy.url + "/v1/models", timeout=20).status_code == 401
    for headers in ({"authorization": f"Bearer {KEY_A1}"}, {"api-key": KEY_A2}, {"x-api-key": KEY_B}):
        assert _post(proxy, headers).status_code == 200, headers


def test_keys_of_one_tenant_share_entries_and_tenants_never_do(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy(api_keys=KEYS)
    paths = [
        _post(proxy, h).headers["x-stepcache-path"]
        for h in ({"authorization": f"Bearer {KEY_A1}"}, {"api-key": KEY_A2}, {"x-api-key": KEY_B})
    ]
    assert paths == ["miss", "reuse", "miss"]


def test_without_api_keys_every_key_header_is_its_own_namespace(make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    basic = {u: "Basic " + base64.b64encode(f"{u}:pw".encode()).decode() for u in ("user1", "user2")}
    callers = [
        {"api-key": "k1"},
        {"x-api-key": "k2"},
        {"authorization": basic["user1"]},
        {"authorization": basic["user2"]},
        {},
    ]
    assert [_post(proxy, h).headers["x-stepcache-path"] for h in callers] == ["miss"] * 5
    assert _post(proxy, {"x-api-key": "k2"}).headers["x-stepcache-path"] == "reuse"


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        ({"host": "0.0.0.0"}, True),
        ({"host": "10.1.2.3"}, True),
        ({"host": "0.0.0.0", "allow_anonymous": True}, False),
        ({"host": "0.0.0.0", "api_keys": KEYS}, False),
        ({"host": "127.0.0.1"}, False),
        ({"host": "::1"}, False),
        ({"host": "localhost"}, False),
    ],
)
def test_no_open_proxy_beyond_loopback(settings: dict[str, Any], refused: bool) -> None:
    if refused:
        with pytest.raises(ConfigurationError, match="--api-keys"):
            ServerSettings(**settings).check_exposure()
    else:
        ServerSettings(**settings).check_exposure()


def test_serve_refuses_to_expose_an_open_proxy_before_loading_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["serve", "--host", "0.0.0.0", "--upstream", "http://127.0.0.1:9/v1"]) == 2
    assert "--allow-anonymous" in capsys.readouterr().err


# -- pass-through keys ---------------------------------------------------------------------------

CLIENT_1, CLIENT_2 = "sk-client-one", "sk-client-two"


def test_pass_through_forwards_each_clients_key_and_gives_it_its_own_namespace(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    upstream.accepted = frozenset({CLIENT_1, CLIENT_2})
    proxy = make_proxy(pass_through_keys=True, config=CacheConfig(audit_rate=1.0))
    paths = [
        _post(proxy, h).headers["x-stepcache-path"]
        for h in (
            {"authorization": f"Bearer {CLIENT_1}"},
            {"x-api-key": CLIENT_2},
            {"api-key": CLIENT_1},
        )
    ]
    assert paths == ["miss", "miss", "reuse"]
    assert proxy.cache.audits.join(timeout=10)  # the reuse was audited: with its requester's key
    assert upstream.auth == [f"Bearer {CLIENT_1}", f"Bearer {CLIENT_2}", f"Bearer {CLIENT_1}"]
    # A request the cache must not answer is forwarded with the client's key too.
    tools = dict(QUESTION, tools=[{"type": "function", "function": {"name": "lookup", "parameters": {}}}])
    assert _post(proxy, {"authorization": f"Bearer {CLIENT_2}"}, tools).headers["x-stepcache-path"] == "bypass"
    assert upstream.auth[-1] == f"Bearer {CLIENT_2}"
    models = httpx.get(proxy.url + "/v1/models", headers={"authorization": f"Bearer {CLIENT_1}"}, timeout=20)
    assert models.status_code == 200 and upstream.auth[-1] != f"Bearer {OPERATOR_KEY}"


def test_pass_through_refuses_what_the_upstream_refuses_and_caches_nothing_for_it(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    upstream.accepted = frozenset({CLIENT_1})
    proxy = make_proxy(pass_through_keys=True)
    assert _post(proxy, {"authorization": f"Bearer {CLIENT_1}"}).status_code == 200
    missing = _post(proxy, {})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    for _ in range(2):  # the same question the accepted key has cached: never served to a refused key
        refused = _post(proxy, {"authorization": "Bearer sk-stolen-guess"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        assert "sk-stolen-guess" not in refused.text
    assert upstream.auth[-2:] == ["Bearer sk-stolen-guess"] * 2
    assert httpx.get(proxy.url + "/v1/models", headers={"x-api-key": "nope"}, timeout=20).status_code == 401


def test_pass_through_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="choose one"):
        ServerSettings(pass_through_keys=True, api_keys=KEYS)
    with pytest.raises(ValueError, match="namespace"):
        ServerSettings(pass_through_keys=True, shared_namespace="all")
    ServerSettings(host="0.0.0.0", pass_through_keys=True).check_exposure()
    cache = StepCache(ScriptedBackend([]), store=MemoryStore())
    with pytest.raises(ConfigurationError, match="--upstream"):
        create_app(cache, ServerSettings(pass_through_keys=True))
    assert cli(["serve", "--pass-through-keys"]) == 2


def test_keys_new_appends_a_hash_and_prints_the_key_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys"
    assert cli(["keys", "new", "team-a", "--file", str(path)]) == 0
    key = capsys.readouterr().out.strip()
    assert key not in path.read_text() and load_api_keys(path) == {hash_key(key): "team-a"}
    assert cli(["keys", "new", "bad tenant!", "--file", str(path)]) == 2


def test_a_bad_keys_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# comment\nteam-a " + "0" * 64 + "\nteam-b not-a-hash\n")
    with pytest.raises(ConfigurationError, match=r"keys:3"):
        load_api_keys(path)


# -- a complete cache key ------------------------------------------------------------------------


def _engine(answers: list[str]) -> tuple[StepCache, ScriptedBackend]:
    backend = ScriptedBackend()
    for answer in answers:
        backend.enqueue(answer)
    return StepCache(backend, store=MemoryStore()), backend


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # earlier assistant turns
        (
            {
                "messages": [
                    {"role": "user", "content": "Pick a colour"},
                    {"role": "assistant", "content": "Red."},
                    {"role": "user", "content": "Why that one?"},
                ]
            },
            {
                "messages": [
                    {"role": "user", "content": "Pick a colour"},
                    {"role": "assistant", "content": "Blue."},
                    {"role": "user", "content": "Why that one?"},
                ]
            },
        ),
        # letter case
        (
            {"messages": [{"role": "user", "content": "What does the acronym MIT stand for?"}]},
            {"messages": [{"role": "user", "content": "What does the acronym mit stand for?"}]},
        ),
        # code indentation
        (
            {"messages": [{"role": "user", "content": "What does this print?\nif x:\n    print(1)\nprint(2)"}]},
            {"messages": [{"role": "user", "content": "What does this print?\nif x:\n    print(1)\n    print(2)"}]},
        ),
        # a token limit (an answer cut short is not the answer to a request without one)
        (
            {"messages": [{"role": "user", "content": "Tell me about the moon."}], "max_tokens": 2},
            {"messages": [{"role": "user", "content": "Tell me about the moon."}]},
        ),
    ],
)
def test_requests_that_differ_in_what_changes_the_answer_never_share_an_entry(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    cache, backend = _engine(["first answer", "second answer"])
    assert cache.complete(first).text == "first answer"
    result = cache.complete(second)
    assert result.path is not Route.REUSE and result.text == "second answer"


def test_meaningless_whitespace_still_reuses() -> None:
    cache, _ = _engine(["an answer"])
    cache.complete({"messages": [{"role": "user", "content": "Tell me about the moon."}]})
    again = cache.complete({"messages": [{"role": "user", "content": "  Tell  me about the moon.  \n"}]})
    assert again.path is Route.REUSE


def test_sampled_requests_are_cached_only_with_the_same_sampling(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(allow_sampling_cache=True)
    body = {**QUESTION, "temperature": 0.7}
    headers = {"x-api-key": "k"}
    assert _post(proxy, headers, body).headers["x-stepcache-path"] == "miss"
    assert _post(proxy, headers, body).headers["x-stepcache-path"] == "reuse"
    assert _post(proxy, headers, {**body, "temperature": 1.2}).headers["x-stepcache-path"] == "miss"
    assert _post(proxy, headers, {**body, "seed": 3}).headers["x-stepcache-path"] == "miss"


# -- malformed input -----------------------------------------------------------------------------


def _raw(proxy: Proxy, payload: bytes, path: str = "/v1/chat/completions") -> httpx.Response:
    return httpx.post(proxy.url + path, content=payload, headers={"content-type": "application/json"}, timeout=20)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"model": "m", "messages": [{"role": "user", "content": "hi \\ud800 there"}]}',
        b'{"model": "m\\udfff", "messages": [{"role": "user", "content": "hi"}]}',
        b'{"model": "m", "messages": [{"role": "system", "content": "\\ud800"}, {"role": "user", "content": "x"}]}',
        b'{"model": "m", "prompt": "\\udc00"}',
        (
            '{"model": "m", "messages": [{"role": "user", "content": "hi"}], "x": ' + "[" * 990 + "]" * 990 + "}"
        ).encode(),
        (
            '{"model": "m", "messages": [{"role": "user", "content": "Give JSON"}], "response_format": '
            '{"type": "json_schema", "json_schema": {"name": "x", "schema": '
            + '{"type": "object", "properties": {"a": ' * 150
            + '{"type": "string"}'
            + "}}" * 150
            + "}}}"
        ).encode(),
    ],
)
def test_malformed_bodies_are_400_never_500(make_proxy: MakeProxy, payload: bytes) -> None:
    proxy = make_proxy()
    path = "/v1/completions" if b'"prompt"' in payload else "/v1/chat/completions"
    response = _raw(proxy, payload, path)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_routes_and_methods_answer_openai_errors(proxy: Proxy) -> None:
    missing = httpx.get(proxy.url + "/v1/embeddings", timeout=20)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = httpx.get(proxy.url + "/v1/chat/completions", timeout=20)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


# -- store faults ---------------------------------------------------------------------------------


class FaultyStore(MemoryStore):
    """A memory store whose reads, writes or counters fail on demand (a full disk, a stopped server)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_reads = self.fail_writes = self.fail_counts = False

    def _fail(self, when: bool, what: str) -> None:
        if when:
            raise StoreError(f"{what} failed: database or disk is full (postgresql://admin:secret@db.internal/cache)")

    def get(self, key: str) -> Entry | None:
        self._fail(self.fail_reads, "read")
        return super().get(key)

    def put(self, entry: Entry) -> Entry:
        self._fail(self.fail_writes, "write")
        return super().put(entry)

    def record(self, namespace: str, family: str, path: Route, spent: TokenUsage, saved: int) -> None:
        self._fail(self.fail_counts, "count")
        super().record(namespace, family, path, spent, saved)


def test_hits_survive_a_store_that_cannot_count_and_misses_one_that_cannot_write(make_proxy: MakeProxy) -> None:
    store = FaultyStore()
    proxy = make_proxy(store=store)
    headers = {"x-api-key": "k"}
    assert _post(proxy, headers).headers["x-stepcache-path"] == "miss"
    store.fail_counts = True
    hit = _post(proxy, headers)
    assert hit.status_code == 200 and hit.headers["x-stepcache-path"] == "reuse"
    store.fail_writes = True
    other = _post(proxy, headers, {"model": "m", "messages": [{"role": "user", "content": "Solve 2y - 4 = 10"}]})
    assert other.status_code == 200 and other.json()["choices"][0]["message"]["content"].endswith("y = 7")


def test_a_store_that_cannot_be_read_degrades_to_uncached_answers(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    store = FaultyStore()
    proxy = make_proxy(store=store)
    assert httpx.get(proxy.url + "/readyz", timeout=20).status_code == 200
    store.fail_reads = True
    response = _post(proxy, {"x-api-key": "k"})
    assert response.status_code == 200 and response.headers["x-stepcache-path"] == "bypass"
    meta = response.json()["stepcache"]
    assert "store_unavailable" in json.dumps(meta) and "secret" not in response.text
    health = httpx.get(proxy.url + "/healthz", timeout=20).json()
    assert health["status"] == "degraded" and health["store"]["state"] == "unavailable"
    assert "secret" not in json.dumps(health) and "db.internal" not in json.dumps(health)
    assert httpx.get(proxy.url + "/readyz", timeout=20).status_code == 503
    # while the breaker is open, requests skip the store at once
    store.fail_reads = False
    assert _post(proxy, {"x-api-key": "k"}).headers["x-stepcache-path"] == "bypass"


# -- bounded work ---------------------------------------------------------------------------------


def _cpu_seconds(request: dict[str, Any], answer: str) -> float:
    import time

    backend = ScriptedBackend()
    for _ in range(4):
        backend.enqueue(answer)
    cache = StepCache(backend, store=MemoryStore())
    start = time.process_time()
    cache.complete(request)
    cache.complete(request)  # the second time through retrieval and adaptation
    return time.process_time() - start


def test_a_640_term_equation_costs_little_cpu() -> None:
    equation = " + ".join(f"{i % 9 + 1}x" for i in range(640)) + " = 20"
    request = {"messages": [{"role": "user", "content": f"Solve {equation}"}]}
    assert _cpu_seconds(request, "x = 1") < 1.0


def test_a_1600_property_schema_costs_little_cpu() -> None:
    properties = {f"field_{i}": {"type": "string"} for i in range(1600)}
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    request = {
        "messages": [{"role": "user", "content": "Extract the fields from: Name: Ada Lovelace, born 1815."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "big", "schema": schema}},
    }
    assert _cpu_seconds(request, json.dumps({k: "x" for k in properties})) < 1.0


# -- per-request cache control ------------------------------------------------------------------------


def test_no_cache_answers_fresh_and_no_store_keeps_nothing(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy()
    headers = {"x-api-key": "k"}
    assert _post(proxy, headers, {**QUESTION, "cache": {"no-store": True}}).headers["x-stepcache-path"] == "miss"
    assert _post(proxy, headers).headers["x-stepcache-path"] == "miss"  # nothing was stored
    assert _post(proxy, headers).headers["x-stepcache-path"] == "reuse"
    assert _post(proxy, headers, {**QUESTION, "cache": {"no-cache": True}}).headers["x-stepcache-path"] == "miss"
    assert _post(proxy, {**headers, "cache-control": "no-cache"}).headers["x-stepcache-path"] == "miss"
    calls = len(upstream.calls)
    assert _post(proxy, {**headers, "cache-control": "no-store"}).headers["x-stepcache-path"] == "reuse"
    assert len(upstream.calls) == calls
    bad = _post(proxy, headers, {**QUESTION, "cache": {"no-cache": "yes"}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "cache.no-cache"
    for control in ({"ttl": -1}, {"ttl": True}, {"s-maxage": "soon"}):
        bad = _post(proxy, headers, {**QUESTION, "cache": control})
        assert bad.status_code == 400 and bad.json()["error"]["param"].startswith("cache."), control


def test_a_ttl_keeps_the_answer_that_long_and_no_longer(make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    headers = {"x-api-key": "k"}
    other = {"model": "m", "messages": [{"role": "user", "content": "Name three rivers."}]}
    assert _post(proxy, headers, {**other, "cache": {"ttl": 1}}).headers["x-stepcache-path"] == "miss"
    assert _post(proxy, headers, other).headers["x-stepcache-path"] == "reuse"  # kept...
    time.sleep(1.2)
    assert _post(proxy, headers, other).headers["x-stepcache-path"] == "miss"  # ...for one second only


def test_max_age_serves_only_entries_young_enough(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy()
    headers = {"x-api-key": "k"}
    assert _post(proxy, headers).headers["x-stepcache-path"] == "miss"
    time.sleep(1.2)
    assert _post(proxy, headers, {**QUESTION, "cache": {"s-maxage": 60}}).headers["x-stepcache-path"] == "reuse"
    assert _post(proxy, headers, {**QUESTION, "cache": {"s-maxage": 1}}).headers["x-stepcache-path"] == "miss"
    assert _post(proxy, {**headers, "cache-control": "max-age=0"}).headers["x-stepcache-path"] == "miss"
    look_alike = {"model": "m", "messages": [{"role": "user", "content": "Solve 4x + 2 = 30"}]}
    assert _post(proxy, {**headers, "cache-control": "max-age=60"}, look_alike).headers["x-stepcache-path"] == "reuse"


# -- HTTP hygiene -----------------------------------------------------------------------------------


def test_requests_beyond_the_in_flight_limit_get_429_with_retry_after(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    import threading

    proxy = make_proxy(max_in_flight=1)
    upstream.delay = 1.0
    slow = threading.Thread(target=_post, args=(proxy, {"x-api-key": "k"}))
    slow.start()
    import time

    time.sleep(0.3)
    busy = _post(proxy, {"x-api-key": "k2"}, {"model": "m", "messages": [{"role": "user", "content": "Solve 2a = 4"}]})
    slow.join()
    assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "proxy_busy"


def test_an_oversized_header_is_refused(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(max_header_bytes=8192)
    response = httpx.post(
        proxy.url + "/v1/chat/completions", json=QUESTION, headers={"x-big": "a" * 100_000}, timeout=10
    )
    assert response.status_code == 431 and response.json()["error"]["code"] == "headers_too_large"
    assert _post(proxy, {"x-api-key": "k"}).status_code == 200


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (a hang check, not a speed claim)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_silent_and_dripping_clients_are_cut_off_and_others_still_served(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(header_timeout_s=0.5)
    host, port = proxy.url.removeprefix("http://").split(":")
    silent = socket.create_connection((host, int(port)))
    dripping = socket.create_connection((host, int(port)))
    dripping.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
    for _ in range(3):  # a header line now and then, never the end of the head
        time.sleep(0.3)
        try:
            dripping.sendall(b"x-slow: 1\r\n")
        except OSError:
            break
    assert _closed_within(silent, 5) and _closed_within(dripping, 5)
    silent.close()
    dripping.close()
    with httpx.Client(timeout=20) as client:  # keep-alive requests are unaffected
        for _ in range(3):
            assert client.post(proxy.url + "/v1/chat/completions", json=QUESTION).status_code == 200
            time.sleep(0.3)


def test_an_unfinished_head_over_the_limit_is_refused_at_once(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(max_header_bytes=8192)
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nx-big: " + b"a" * 50_000)  # no end of line
        sock.settimeout(5)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431") and b"headers_too_large" in answer


def test_a_long_prompt_is_never_looked_up_on_the_event_loop(make_proxy: MakeProxy) -> None:
    import threading

    proxy = make_proxy(inline_lookup=True)
    seen: list[str] = []
    lookup = proxy.cache.lookup

    def recording_lookup(request: Any) -> Any:
        seen.append(threading.current_thread().name)
        return lookup(request)

    proxy.cache.lookup = recording_lookup  # type: ignore[method-assign]
    _post(proxy, {"x-api-key": "k"})
    long = {"model": "m", "messages": [{"role": "user", "content": "Summarise: " + "lorem ipsum " * 5000}]}
    assert _post(proxy, {"x-api-key": "k"}, long).status_code == 200
    assert len(seen) == 1  # only the short request was looked up inline; the long one went to a worker thread


def test_a_worker_exits_when_its_master_is_gone() -> None:
    import os
    import threading

    from stepcache.server._workers import watch_master

    gone, alive = threading.Event(), threading.Event()
    watch_master(os.getppid() + 1_000_000, interval=0.01, exit=gone.set)  # a parent we do not have: gone
    assert gone.wait(5)
    watch_master(os.getppid(), interval=0.01, exit=alive.set)  # our real parent: keeps watching
    assert not alive.wait(0.2)


def test_tenant_limits_count_requests_a_minute_and_tokens_a_day() -> None:
    from stepcache.server._auth import RateLimited, TenantLimits

    now = [1000.0]
    limits = TenantLimits({"team-a": {"requests_per_minute": 2, "tokens_per_day": 100}}, clock=lambda: now[0])
    limits.admit("team-a")
    limits.admit("team-a")
    with pytest.raises(RateLimited) as refused:
        limits.admit("team-a")
    assert 1 <= refused.value.retry_after <= 61
    limits.admit("team-b")  # no limits for another tenant
    now[0] += 61
    limits.admit("team-a")  # the minute has passed
    limits.spent("team-a", 150)
    now[0] += 1
    with pytest.raises(RateLimited, match="tokens"):
        limits.admit("team-a")
    now[0] += 86400  # another day, another budget
    limits.admit("team-a")


def test_a_tenant_over_its_rate_gets_429_with_retry_after(make_proxy: MakeProxy, tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"team-a {hash_key(KEY_A1)} rpm=2\nteam-b {hash_key(KEY_B)}\n")
    from stepcache.server._auth import load_tenant_limits

    proxy = make_proxy(api_keys=load_api_keys(path), tenant_limits=load_tenant_limits(path))
    a, b = {"authorization": f"Bearer {KEY_A1}"}, {"authorization": f"Bearer {KEY_B}"}
    assert [_post(proxy, a).status_code for _ in range(2)] == [200, 200]
    refused = _post(proxy, a)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "tenant_rate_limited"
    assert _post(proxy, b).status_code == 200
    path.write_text(f"team-a {hash_key(KEY_A1)} rpm=fast\n")
    with pytest.raises(ConfigurationError, match="rpm=N"):
        load_api_keys(path)


# -- fuzzing: no body is a 500 ------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["Solve 3x + 5 = 20", "Return JSON with keys name, age for Ada, 36", "Maya buys 3 pens at $2 each. How much?", ""]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "developer", "tool", "bot", 3]), "content": _TEXT | _JSON}
)
_BODY = st.fixed_dictionaries(
    {},
    optional={
        "model": _TEXT | _JSON,
        "messages": st.lists(_MESSAGE, max_size=4) | _JSON,
        "prompt": _TEXT | _JSON,
        "temperature": _JSON,
        "max_tokens": _JSON,
        "response_format": st.sampled_from([{"type": "json_object"}, {"type": "text"}, {"type": "json_schema"}])
        | _JSON,
        "stream": _JSON,
        "cache": _JSON,
        "n": _JSON,
        "tools": _JSON,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_BODY, endpoint=st.sampled_from(["/v1/chat/completions", "/v1/completions"]))
def test_no_body_is_a_500(body: dict[str, Any], endpoint: str) -> None:
    from starlette.testclient import TestClient

    from stepcache.server import create_app

    cache = StepCache(ScriptedBackend(responder=lambda request: "1. 3x = 15\n2. x = 5"), store=MemoryStore())
    with TestClient(create_app(cache, ServerSettings())) as client:
        response = client.post(endpoint, json=body)
    cache.close()
    assert response.status_code != 500, (body, response.text)
    assert "error" in response.json() or response.status_code == 200
