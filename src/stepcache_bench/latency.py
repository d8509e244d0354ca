"""Modelled model time for the scripted backend, so a scripted run has meaningful latencies.

The scripted model answers in microseconds, which would make every cache look slower than no cache.
:class:`ModelledLatency` wraps a backend and *accounts* (never sleeps) the time a real model would
take — a fixed cost per call plus a cost per prompt and per completion token — on a clock the
runner adds to each request's measured wall time. Reports say when latencies include modelled time.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel, ConfigDict, Field

from stepcache import Backend, BackendRequest, Completion

__all__ = ["LatencyModel", "ModelledLatency"]


class LatencyModel(BaseModel):
    """Seconds a model spends per call. The defaults approximate a 0.5B GGUF model on 2 CPU cores
    (prompt evaluation ~ 400 tokens/s, generation ~ 27 tokens/s), the embedded backend's class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_call_s: float = Field(default=0.05, ge=0)
    per_prompt_token_s: float = Field(default=0.0025, ge=0)
    per_completion_token_s: float = Field(default=0.037, ge=0)

    def seconds(self, completion: Completion) -> float:
        return (
            self.per_call_s
            + self.per_prompt_token_s * completion.prompt_tokens
            + self.per_completion_token_s * completion.completion_tokens
        )


class ModelledLatency(Backend):
    """``inner`` plus a modelled-time clock (:attr:`modelled_s`) advanced by every call."""

    def __init__(self, inner: Backend, model: LatencyModel | None = None) -> None:
        self.inner = inner
        self.latency = model or LatencyModel()
        self.name = f"{inner.name}+modelled-latency"
        self._lock = threading.Lock()
        self._clock = 0.0

    @property
    def modelled_s(self) -> float:
        """Total modelled seconds so far; the runner reads it before and after each request."""
        with self._lock:
            return self._clock

    def complete(self, request: BackendRequest) -> Completion:
        completion = self.inner.complete(request)
        with self._lock:
            self._clock += self.latency.seconds(completion)
        return completion

    def models(self) -> list[str]:
        return self.inner.models()

    def close(self) -> None:
        self.inner.close()
