"""The harness for the fleet tests: real ``stepcache serve`` processes sharing one PostgreSQL store.

Each replica is its own OS process (so ``kill -9`` is a real crash: no ``finally``, no pool close,
sockets torn down by the kernel), started exactly as an operator would start it, in front of the
proxy tests' fake upstream (``proxy_harness``), which runs in the test process so the tests can
count what went upstream. The module name is unique on purpose: tests/ has no packages, and a
second ``harness.py`` elsewhere would shadow this one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
from proxy_harness import OPERATOR_KEY, FakeUpstream

#: What a replica needs longer than this to answer /healthz is a failure, not a slow start.
START_TIMEOUT_S = 60.0


def serve_command() -> list[str]:
    """``stepcache serve`` from the interpreter's own environment (the console script when installed)."""
    script = Path(sys.executable).with_name("stepcache")
    return [str(script), "serve"] if script.exists() else [sys.executable, "-m", "stepcache.cli", "serve"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def with_query(url: str, **options: Any) -> str:
    """``url`` with store options appended as query parameters."""
    query = "&".join(f"{name}={value}" for name, value in options.items())
    return f"{url}{'&' if '?' in url else '?'}{query}"


class Replica:
    """One ``stepcache serve`` process; ``kill()`` is SIGKILL, ``stop()`` a graceful SIGTERM."""

    def __init__(self, name: str, *, upstream: str, store: str, log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"replica-{name}.log"
        # Hermetic: the operator's settings come from the command line, not from whatever the
        # developer's shell exports; only the upstream key has no flag.
        env = {k: v for k, v in os.environ.items() if not k.startswith("STEPCACHE_")}
        env["STEPCACHE_UPSTREAM_API_KEY"] = OPERATOR_KEY
        command = [*serve_command(), "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--upstream", upstream, "--store", store]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"replica {self.name} did not answer /healthz within {timeout:g}s:\n{self.log()}")

    def client(self, key: str, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=30, **kwargs)

    def kill(self) -> None:
        """SIGKILL and reap: the crash a graceful shutdown test cannot show."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"


@dataclass
class Fleet:
    upstream: FakeUpstream
    pg_url: str  # the server, for reading the tables directly
    schema: str
    store_url: str  # what the replicas were given
    a: Replica
    b: Replica


@dataclass
class Row:
    """One row of the shared ``entries`` table, read with plain SQL (not through the store under test)."""

    id: int
    key: str
    namespace: str
    family: str
    prompt: str
    text: str
    steps: list[str]
    task: Any
    prepared: Any
    format_version: int
    dim: int
    embedding_dims: int | None


def entries(url: str, schema: str) -> list[Row]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT id, key, namespace, family, prompt, text, steps, task, prepared, format_version, dim,"
                " vector_dims(embedding) FROM {}.entries ORDER BY id"
            ).format(sql.Identifier(schema))
        ).fetchall()
    return [Row(*row) for row in rows]
