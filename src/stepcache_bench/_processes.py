"""The helper processes of the time-to-first-token bench and the load generator: a fake model or a proxy
in a Python process of its own, so that none waits on another's GIL."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

__all__ = ["free_port", "python_process"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def python_process(
    code: str, *, ready_url: str, name: str, timeout_s: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -c CODE``, yielded once ``ready_url`` answers 200; terminated after the block."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the bench's {name} process exited with code {proc.returncode} (its error is above)"
                )
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bench's {name} process did not answer {ready_url} within {timeout_s:g} s")
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            proc.kill()
            proc.wait()
