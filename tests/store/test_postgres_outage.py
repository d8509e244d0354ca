"""The proxy in front of a PostgreSQL store that goes away mid-traffic: requests are answered
uncached (path ``bypass``) within a bounded wait instead of hanging or failing, ``/readyz`` says so,
and caching resumes once the server is back. The outage is made with a TCP forwarder that can be
cut, so the shared test server keeps running."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from pg_helpers import IN_CI, fresh_schema, require_postgres

psycopg = __import__("psycopg") if IN_CI else pytest.importorskip("psycopg")

from stepcache import ScriptedBackend, StepCache  # noqa: E402
from stepcache.server import ServerSettings, create_app  # noqa: E402
from stepcache.store.postgres import PostgresStore  # noqa: E402

pytestmark = pytest.mark.postgres


class Forwarder:
    """Relays TCP connections from a loopback port to ``target``; :meth:`cut` drops every
    connection and refuses new ones (the server is "down"), :meth:`restore` brings it back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.links: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        assert self.listener is not None
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone would not
        self.listener.close()
        for link in self.links:
            with contextlib.suppress(OSError):
                link.shutdown(socket.SHUT_RDWR)
            link.close()
        self.links.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.links += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()


@pytest.fixture
def forwarded() -> Iterator[tuple[str, str, Forwarder]]:
    url = require_postgres()
    parts = urlsplit(url)
    forwarder = Forwarder((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = parts.netloc.rsplit("@", 1)
    via = urlunsplit(
        parts._replace(
            netloc=f"{netloc[0]}@127.0.0.1:{forwarder.port}" if len(netloc) == 2 else f"127.0.0.1:{forwarder.port}"
        )
    )
    with fresh_schema(url) as schema:
        yield via, schema, forwarder
    forwarder.cut()


def solve(request: object) -> str:
    text = str(request.messages[-1]["content"])
    a, rest = text.removeprefix("Solve ").split("x + ")
    b, c = rest.split(" = ")
    x = (int(c) - int(b)) // int(a)
    return f"1. {a}x + {b} = {c}\n2. {a}x = {int(c) - int(b)}\n3. x = {x}"


def test_a_store_that_goes_away_mid_traffic_degrades_to_uncached_answers(forwarded: tuple[str, str, Forwarder]) -> None:
    url, schema, forwarder = forwarded
    store = PostgresStore(url, schema=schema, pool_timeout=2.0, min_size=1)
    cache = StepCache(ScriptedBackend(responder=solve), store=store)
    app = create_app(cache, ServerSettings())
    proxy = app.state.stepcache
    proxy.store_breaker.cooldown_s = 1.0

    def ask(client: httpx.AsyncClient, a: int) -> asyncio.Future[httpx.Response]:
        body = {"model": "m", "messages": [{"role": "user", "content": f"Solve {a}x + 5 = {a * 3 + 5}"}]}
        return asyncio.ensure_future(client.post("/v1/chat/completions", json=body, timeout=60))

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:
            assert (await ask(client, 2)).headers["x-stepcache-path"] == "miss"
            assert (await ask(client, 3)).headers["x-stepcache-path"] == "reuse"
            forwarder.cut()
            started = time.monotonic()
            during = await asyncio.gather(*(ask(client, a) for a in range(4, 10)))
            waited = time.monotonic() - started
            assert [r.status_code for r in during] == [200] * 6
            assert {r.headers["x-stepcache-path"] for r in during} == {"bypass"}
            assert all(r.json()["choices"][0]["message"]["content"].endswith("x = 3") for r in during)
            assert waited < 15  # bounded by the pool timeout, not an indefinite hang
            assert (await client.get("/readyz")).status_code == 503
            assert (await client.get("/healthz")).json()["status"] == "degraded"
            forwarder.restore()
            deadline = time.monotonic() + 30
            paths: list[str] = []
            while time.monotonic() < deadline:
                await asyncio.sleep(1.1)  # past the breaker's cooldown
                response = await ask(client, 11)
                paths.append(response.headers["x-stepcache-path"])
                if paths[-1] in ("miss", "reuse"):
                    break
            assert paths[-1] in ("miss", "reuse"), paths  # cached again once the server is back
            assert (await client.get("/readyz")).status_code == 200

    try:
        asyncio.run(scenario())
    finally:
        cache.close()
