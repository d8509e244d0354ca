"""The HTTP protocol the proxy runs under uvicorn: httptools' with limits on request heads.

uvicorn bounds neither how long a client may take to send a request's head nor (under httptools) how
large an unfinished head may grow: a client dripping header bytes, or opening sockets and sending
nothing, holds a file descriptor and buffer forever, and enough of them starve every other client
(the keep-alive timeout applies only between requests). This protocol closes a connection whose head
is not complete ``head_timeout_s`` after its first byte was expected (the connection opened, or the
previous response finished), and answers HTTP 431 to one whose unfinished head passes
``max_head_bytes``. The limits are class attributes, set from :class:`ServerSettings` by
``create_app`` in the process that serves (each ``--workers`` process builds its own app).
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["GuardedHttpToolsProtocol", "PROTOCOL", "configure"]


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    head_timeout_s: float = 10.0
    max_head_bytes: int = 65_536

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # the head has begun: it has head_timeout_s to be complete

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # The next request's head starts now (pipelined, or after an idle keep-alive wait).
        self._in_head = True
        self._head_bytes = 0
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.head_timeout_s + self.timeout_keep_alive)

    def _arm(self, seconds: float | None = None) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout_s if seconds is None else seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()

    def _refuse(self) -> None:
        body = json.dumps(
            {
                "error": {
                    "message": f"the request head is over this proxy's limit of {self.max_head_bytes} bytes; send smaller headers",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "headers_too_large",
                }
            }
        ).encode()
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        self._in_head = False
        self._disarm()
        self.transport.write(head + body)
        self.transport.close()


#: uvicorn's ``http`` option naming this protocol (an import string, so ``--workers`` processes can load it).
PROTOCOL = f"{__name__}:GuardedHttpToolsProtocol"


def configure(head_timeout_s: float, max_head_bytes: int) -> None:
    """Set the limits for connections this process accepts from now on."""
    GuardedHttpToolsProtocol.head_timeout_s = head_timeout_s
    GuardedHttpToolsProtocol.max_head_bytes = max_head_bytes
