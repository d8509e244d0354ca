"""A journal of model calls: each distinct call is generated once, then replayed at its measured cost.

The bench sends many identical requests to the model: the no-cache, exact-match and GPTCache
systems all forward the bare request on a miss, and StepCache forwards it unchanged for tasks no
family structures. With greedy decoding the answer to an identical request is identical, so
generating it again only re-measures the same work — and adds timing noise that differs between
systems. :class:`CallJournal` wraps a backend and appends every live call (request, answer, token
counts, measured seconds) to a JSONL file; an identical call later — by any system, or by a re-run of
an interrupted bench with the same journal — returns the recorded answer and advances a clock by the
recorded seconds, which the runner adds to the request's latency (as it does for modelled time).

So a long run can be stopped and resumed: re-running the same command replays what is done and
generates only what is not. Reports state how many calls were live and how many replayed.

Only requests with ``temperature == 0`` are replayed; a sampled request is always live.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from stepcache import Backend, BackendRequest, Completion, ConfigurationError

__all__ = ["CallJournal", "journal_totals", "request_key"]

JOURNAL_VERSION = 1


def request_key(request: BackendRequest) -> str:
    """A stable hash of everything that can change a model's answer."""
    body = {
        "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
        "model": request.model,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "response_format": request.response_format,
        "stop": list(request.stop),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The complete lines of a journal file (a line cut short by a crash is skipped)."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted run; it is generated again
            if isinstance(row, dict):
                rows.append((number, row))
    return rows


def _ends_mid_line(path: Path) -> bool:
    """The file's last byte is not a newline (reads one byte, not the file)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def journal_totals(path: str | Path) -> dict[str, Any]:
    """How many distinct calls a journal file holds and the model seconds they took."""
    calls = {row["key"]: float(row["seconds"]) for _, row in _rows(Path(path)) if row.get("version") == JOURNAL_VERSION}
    return {"recorded_calls": len(calls), "recorded_model_s": round(sum(calls.values()), 1)}


class CallJournal(Backend):
    """``inner`` with a persistent record of its calls; see the module docstring.

    ``path`` is created if missing and appended to (one JSON object per line, flushed per call). A
    line cut short by a crash is ignored on load; every complete line is kept. ``backend`` names the
    model the journal belongs to: opening a journal written by another backend is refused, because
    its answers and timings would not be this model's.
    """

    def __init__(self, inner: Backend, path: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        self._lock = threading.Lock()
        self._clock = 0.0
        self._calls: dict[str, dict[str, Any]] = {}
        self.loaded = 0
        self.live = 0
        self.replayed = 0
        self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if _ends_mid_line(self.path):
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write("\n")  # close a line torn by an interrupted run; the next one starts clean
        self._fh = self.path.open("a", encoding="utf-8")

    def _load(self) -> None:
        if not self.path.exists():
            return
        for number, row in _rows(self.path):
            if row.get("backend") != self.inner.name:
                raise ConfigurationError(
                    f"{self.path}:{number} was recorded with backend {row.get('backend')!r}, not "
                    f"{self.inner.name!r}; use a new journal file (or --out dir) for this backend"
                )
            if row.get("version") == JOURNAL_VERSION:
                self._calls[row["key"]] = row
        self.loaded = len(self._calls)

    @property
    def modelled_s(self) -> float:
        """Seconds not measured live so far: replayed calls, plus the inner backend's modelled time
        (a scripted model's); the runner reads it around each request."""
        with self._lock:
            return self._clock + self._inner_clock()

    def _inner_clock(self) -> float:
        return float(getattr(self.inner, "modelled_s", 0.0))

    def complete(self, request: BackendRequest) -> Completion:
        key = request_key(request)
        if request.temperature == 0:
            with self._lock:
                row = self._calls.get(key)
                if row is not None:
                    self.replayed += 1
                    self._clock += float(row["seconds"])
                    return Completion(
                        text=row["text"],
                        prompt_tokens=int(row["prompt_tokens"]),
                        completion_tokens=int(row["completion_tokens"]),
                        model=str(row.get("model", "")),
                        finish_reason=str(row.get("finish_reason", "stop")),
                    )
        inner_before = self._inner_clock()
        start = time.perf_counter()
        completion = self.inner.complete(request)
        seconds = time.perf_counter() - start + (self._inner_clock() - inner_before)
        row = {
            "version": JOURNAL_VERSION,
            "key": key,
            "backend": self.inner.name,
            "seconds": round(seconds, 4),
            "text": completion.text,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "model": completion.model,
            "finish_reason": completion.finish_reason,
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
        }
        with self._lock:
            self.live += 1
            if request.temperature == 0:
                self._calls[key] = row
            self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return completion

    def models(self) -> list[str]:
        return self.inner.models()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            recorded = sum(float(row["seconds"]) for row in self._calls.values())
            return {
                "file": str(self.path),
                "loaded": self.loaded,
                "live_calls": self.live,
                "replayed_calls": self.replayed,
                "recorded_calls": len(self._calls),
                "recorded_model_s": round(recorded, 1),
            }

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()
        self.inner.close()
