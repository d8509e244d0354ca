"""Audit sampling: measure how often a reused answer is wrong, on the operator's own traffic.

For a share ``CacheConfig.audit_rate`` of the answers served by reuse or patch, the :class:`Auditor`
asks the upstream the same request again, in the background and after the answer was returned: the
family's fresh request, segmented and verified exactly as a miss would be. Then the family compares
the two answers (:meth:`~stepcache.Family.same_answer`)::

    agree         the fresh answer verifies and says the same thing
    disagree      the fresh answer verifies and says something else: the served entry is quarantined
    inconclusive  an upstream error, a fresh answer that fails verification, or no verdict
    dropped       sampled, but the bounded queue was full (or the cache closed) before it ran

A family with no notion of equivalence (``same_answer`` gives ``None`` even for an answer compared with
itself, like ``generic``) is never audited: no upstream call, no count. Outcomes and the audits' own
upstream tokens are counted in the store (:class:`~stepcache.store.AuditStore`), so ``stepcache
stats`` and ``/metrics`` report them for every process sharing it.

On a disagreement the entry that served the answer is quarantined: never served again, kept for
inspection. The fresh answer is not stored in its place; the next look-alike request misses (or
adapts another entry) and stores its answer the usual way. A patched answer quarantines both the
entry it was stored as and the entry it was patched from, since either part may be the wrong one.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._exceptions import StepCacheError
from ._types import AuditOutcome, ChatRequest, Result, Route, TokenUsage
from .backends import Backend
from .families import Family, Task
from .store import AuditStore

__all__ = ["Auditor"]

log = logging.getLogger("stepcache")

_AUDITED_PATHS = (Route.REUSE, Route.PATCH)
_SUMMARY_CHARS = 160


@dataclass(frozen=True, slots=True)
class _Job:
    request: ChatRequest
    family: Family[Any]
    task: Task[Any]
    served: tuple[str, ...]
    entries: tuple[str, ...]  # quarantined if the audit disagrees
    #: The requester's context variables (e.g. a pass-through upstream key): the audit calls the
    #: upstream as that request would have.
    context: contextvars.Context = dataclasses.field(default_factory=contextvars.copy_context)


class Auditor:
    """The background audits of one :class:`~stepcache.StepCache` (``cache.audits``).

    ``offer`` runs on the request path and costs a random draw unless the answer is sampled; the
    audits run on at most ``workers`` daemon threads, started on first use, from a queue of at most
    ``queue_size`` jobs. Tests and scripts wait for them with :meth:`join`. Thread-safe.
    """

    def __init__(
        self,
        backend: Backend,
        store: AuditStore | None,
        *,
        rate: float,
        rng: random.Random | None = None,
        queue_size: int = 64,
        workers: int = 1,
        drain_seconds: float = 10.0,
    ) -> None:
        self.rate = rate
        self._backend = backend
        self._store = store
        self._rng = rng if rng is not None else random.Random()
        self._queue_size = queue_size
        self._workers = workers
        self._drain_seconds = drain_seconds
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._running = 0
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._stopping = False
        self._drops: defaultdict[tuple[str, str], int] = defaultdict(int)  # not yet in the store
        self._dropped = 0

    # -- request path --------------------------------------------------------------------------
    def offer(
        self, request: ChatRequest, family: Family[Any], task: Task[Any], result: Result, served: Sequence[str]
    ) -> bool:
        """Queue an audit of ``result`` if it is sampled; ``True`` when one was queued."""
        if self.rate <= 0.0 or self._store is None or result.path not in _AUDITED_PATHS:
            return False
        if self._rng.random() >= self.rate:
            return False
        entries = tuple(dict.fromkeys(e for e in (result.stored, result.entry) if e is not None))
        if not entries:
            return False
        try:
            if family.same_answer(task, served, served) is None:
                return False  # the family cannot compare answers: never audited
        except Exception:
            log.exception("the %s family's same_answer failed; answer not audited", family.name)
            return False
        job = _Job(request, family, task, tuple(served), entries)
        with self._cond:
            if self._closed or len(self._jobs) >= self._queue_size:
                self._drops[(request.namespace, family.name)] += 1
                self._dropped += 1
                return False
            self._jobs.append(job)
            if len(self._threads) < self._workers and self._running + len(self._jobs) > len(self._threads):
                thread = threading.Thread(target=self._work, name=f"stepcache-audit-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._cond.notify()
        return True

    # -- public --------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Audits queued or running in this process."""
        with self._cond:
            return len(self._jobs) + self._running

    @property
    def dropped(self) -> int:
        """Sampled answers this process did not audit because the queue was full or closed."""
        with self._cond:
            return self._dropped

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every queued audit has run and been counted; ``False`` if ``timeout`` (seconds)
        ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._jobs or self._running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        self._flush_drops()
        return True

    def close(self, timeout: float | None = None) -> None:
        """Stop taking audits, wait up to ``timeout`` seconds (default: the configured drain time) for
        the queued ones, and count what is left as dropped. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        finished = self.join(self._drain_seconds if timeout is None else timeout)
        with self._cond:
            for job in self._jobs:
                self._drops[(job.request.namespace, job.family.name)] += 1
                self._dropped += 1
            self._jobs.clear()
            self._stopping = True
            running = self._running
            self._cond.notify_all()
        self._flush_drops()
        if not finished and running:
            log.warning("%d audit(s) still waiting for the upstream at close; their outcome is not counted", running)

    # -- worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
                self._running += 1
            try:
                job.context.run(self._audit, job)
                self._flush_drops()
            except Exception:
                log.exception("audit of entry %s failed", job.entries[0])
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def _audit(self, job: _Job) -> None:
        assert self._store is not None
        family, task = job.family, job.task
        spent = TokenUsage()
        fresh: list[str] = []
        outcome, why = AuditOutcome.INCONCLUSIVE, ""
        try:
            completion = self._backend.complete(family.fresh_request(job.request, task))
            spent = TokenUsage.of(completion)
            fresh = family.segment(task, completion.text)
            report = family.verify(task, fresh)
            if not report.ok:
                why = f"the fresh answer fails verification: {report.summary()}"
            else:
                same = family.same_answer(task, job.served, fresh)
                if same is None:
                    why = "the family gave no verdict"
                else:
                    outcome = AuditOutcome.AGREE if same else AuditOutcome.DISAGREE
        except StepCacheError as exc:
            why = f"upstream error: {exc}"
        except Exception:  # a family or backend bug: still counted, never retried
            log.exception("audit of entry %s (%s) failed", job.entries[0], family.name)
            why = "internal error"
        if outcome is AuditOutcome.DISAGREE:
            served, answer = _summary(family.render(task, job.served)), _summary(family.render(task, fresh))
            reason = f"audit disagreed; served: {served}; fresh upstream answer: {answer}"
            # Several audits of one entry may be queued; only the first quarantines it.
            newly = [entry for entry in job.entries if self._store.quarantine(entry, reason)]
            log.warning(
                "audit disagreed: %s entry %s (family %s, namespace %s); served: %s; fresh upstream answer: %s",
                "quarantined" if newly else "already quarantined",
                ", ".join(newly or job.entries),
                family.name,
                job.request.namespace,
                served,
                answer,
            )
        else:
            log.debug("audit of entry %s (%s): %s %s", job.entries[0], family.name, outcome.value, why)
        self._store.record_audit(job.request.namespace, family.name, outcome, spent)

    def _flush_drops(self) -> None:
        with self._cond:
            drops, self._drops = self._drops, defaultdict(int)
        if self._store is None:
            return
        for (namespace, family), n in drops.items():
            self._store.record_audit(namespace, family, AuditOutcome.DROPPED, TokenUsage(), count=n)


def _summary(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SUMMARY_CHARS else flat[: _SUMMARY_CHARS - 1] + "…"
