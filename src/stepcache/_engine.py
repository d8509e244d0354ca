"""The engine: request → retrieve → adapt → verify → reuse / patch / skip → stitch → store → respond.

:class:`StepCache` owns the control flow; task families own the knowledge (how to adapt, verify,
patch and fall back); the store owns persistence and search; the backend owns the model call.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ._audit import Auditor
from ._exceptions import ConfigurationError, StoreError, UnverifiableAnswer, UpstreamProtocolError
from ._plugins import load_families
from ._request import coerce_request, exact_key
from ._types import (
    ChatRequest,
    Completion,
    Entry,
    Result,
    Route,
    Scope,
    StepCheck,
    StepCounts,
    TokenUsage,
    Vector,
    Verification,
)
from .backends import Backend
from .families import Adaptation, Family, SemanticChange, Task
from .retrieve import Embedder
from .store import AuditStore, Store

__all__ = ["StepCache", "CacheConfig", "AnswerStream"]

log = logging.getLogger("stepcache")

_TASK_MEMO_SIZE = 4096
#: While a streamed answer has nothing to send, an empty piece at most this often (seconds).
_HEARTBEAT_S = 0.5


class CacheConfig(BaseModel):
    """Engine settings. Family-specific settings live on the family objects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Embedding neighbours fetched per lookup.
    neighbours: int = Field(default=4, ge=1, le=64)
    #: How many candidate entries are adapted and verified before the best one is patched.
    max_candidates: int = Field(default=3, ge=1, le=16)
    #: A neighbour this similar in another family (or rejected by its family) means the change is
    #: semantic: the request is answered fresh and reported as ``skip`` rather than ``miss``. Only the
    #: label depends on it, never what is served. The default suits the hashed n-gram embedder, whose
    #: scores are dominated by shared instruction wording (measured: 0.25–0.83 between a request and
    #: its semantic variant, 0.38 for "Solve 3x + 5 = 20" vs "Evaluate 3x + 5 when x = 4", 0.03–0.3
    #: between unrelated tasks).
    skip_similarity: float = Field(default=0.35, ge=0.0, le=1.0)
    #: Store answers produced by the model (miss, skip, patch) for later reuse.
    store_answers: bool = True
    #: Share (0..1) of answers served by reuse or patch that are audited: asked again upstream in the
    #: background, verified and compared with what was served; an entry found wrong is quarantined.
    #: Costs about this share of the reused requests' tokens. 0 (default) never calls the upstream extra.
    audit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Audits waiting to run; a sampled answer beyond this is not audited and counts as ``dropped``.
    audit_queue: int = Field(default=64, ge=1, le=100_000)
    #: Threads running audits: at most this many audit calls are upstream at once.
    audit_workers: int = Field(default=1, ge=1, le=64)
    #: How long :meth:`StepCache.close` waits for queued and running audits before dropping the rest.
    audit_drain_seconds: float = Field(default=10.0, ge=0.0)


@dataclass(slots=True)
class _Candidate:
    entry: Entry
    similarity: float | None
    how: str  # "exact" | "signature" | "neighbour"


@dataclass(slots=True)
class _Repaired:
    steps: list[str]
    report: Verification
    usage: TokenUsage = TokenUsage()
    fallback: bool = False
    calls: int = 0
    doubtful: bool = False  # served with failures the family only doubts: never stored
    fixed: bool = False  # the family corrected the answer without the model


@dataclass(slots=True)
class _Lookup:
    """What retrieval found for one request; the embedding is computed at most once."""

    text: str = ""  # what is embedded to find neighbours (Family.retrieval_text)
    candidates: list[_Candidate] = field(default_factory=list)
    vector: Vector | None = None
    semantic_neighbour: _Candidate | None = None
    semantic_reason: str = ""  # why the family judged the change from that entry semantic
    served: Sequence[str] | None = None  # the steps of a reused or patched answer, for the audit
    # a patch that still failed after its repairs: answered fresh instead, its calls counted
    failed_patch: tuple[_Candidate, _Repaired] | None = None
    read: bool = True  # False: the caller asked to be answered by the model, not the cache
    write: bool = True  # False: the caller asked that nothing from this request be stored
    ttl: float | None = None  # the caller's limit on how long its answer is kept (seconds)
    max_age: float | None = None  # the caller accepts only entries younger than this (seconds)

    def fresh_enough(self, entry: Entry) -> bool:
        return self.max_age is None or entry.created_at >= time.time() - self.max_age

    def add(self, candidate: _Candidate) -> _Candidate:
        self.candidates.append(candidate)
        return candidate


class AnswerStream(Iterator[str]):
    """An answer as :meth:`StepCache.stream` sends it: iterate for the text pieces. A piece may be
    empty: the model is answering but nothing can be sent yet (at most one every half second).

    :attr:`path` is known before the first piece (``reuse``, ``patch``, ``miss`` or ``skip``);
    :attr:`result` once the last piece has been taken. :meth:`close` abandons the answer (the
    model's stream is closed, nothing is stored). Not thread-safe: one consumer at a time.
    """

    def __init__(self, steps: Generator[Route | str, None, Result]) -> None:
        self._steps = steps
        self.path: Route | None = None
        self.result: Result | None = None

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> str:
        while True:
            try:
                item = self._steps.send(None)
            except StopIteration as done:
                self.result = done.value
                raise
            if isinstance(item, Route):
                self.path = item
                continue
            return item

    def start(self) -> Route:
        """Run until the path is known (the lookup done; no model text waited for) and return it."""
        while self.path is None:
            try:
                item = self._steps.send(None)
            except StopIteration as done:
                self.result = done.value
                self.path = done.value.path
                break
            if isinstance(item, Route):
                self.path = item
            else:  # pragma: no cover - the engine always names the path first
                raise AssertionError("an answer stream sent text before its path")
        return self.path

    def close(self) -> None:
        self._steps.close()


class StepCache:
    """A step-level cache in front of one model backend.

    >>> from stepcache import StepCache, ScriptedBackend, MemoryStore
    >>> backend = ScriptedBackend()
    >>> cache = StepCache(backend, store=MemoryStore())
    >>> backend.enqueue("1. 3x + 5 = 20\\n2. 3x = 15\\n3. x = 5")
    >>> cache.complete({"messages": [{"role": "user", "content": "Solve 3x + 5 = 20"}]}).path.value
    'miss'
    >>> cache.complete({"messages": [{"role": "user", "content": "Solve 4x + 2 = 30"}]}).text
    '1. 4x + 2 = 30\\n2. 4x = 28\\n3. x = 7'

    Thread-safe: the proxy calls :meth:`complete` from a thread pool.

    With ``CacheConfig(audit_rate=R)`` a share R of reused and patched answers is audited in the
    background (:attr:`audits`, see ``_audit``); ``audit_rng`` makes the sampling reproducible.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        families: Sequence[Family[Any]] | None = None,
        config: CacheConfig | None = None,
        audit_rng: random.Random | None = None,
    ) -> None:
        if not isinstance(backend, Backend):
            raise ConfigurationError(
                f"backend must be a stepcache.Backend, not {type(backend).__name__}; wrap your client "
                "in OpenAIHTTPBackend(base_url) or implement Backend.complete()"
            )
        if store is None:
            from .store.memory import MemoryStore

            store = MemoryStore()
        if embedder is None:
            from .retrieve.ngram import HashedNgramEmbedder

            embedder = HashedNgramEmbedder()
        self.backend = backend
        self.store = store
        self.embedder = embedder
        self.config = config or CacheConfig()
        self.families = _with_catch_all(list(families) if families is not None else load_families())
        self._tasks: dict[tuple[str, str], Task[Any]] = {}
        audit_store = store if isinstance(store, AuditStore) else None
        if self.config.audit_rate > 0 and audit_store is None:
            raise ConfigurationError(
                f"audit sampling needs a store that counts audits and quarantines entries, and "
                f"{type(store).__name__} does not: use a memory://, sqlite:// or postgresql:// store, implement "
                "record_audit() and quarantine() (stepcache.store.AuditStore), or set audit_rate to 0"
            )
        #: The background audits (``cache.audits.join(timeout)`` waits for them).
        self.audits = Auditor(
            backend,
            audit_store,
            rate=self.config.audit_rate,
            rng=audit_rng,
            queue_size=self.config.audit_queue,
            workers=self.config.audit_workers,
            drain_seconds=self.config.audit_drain_seconds,
        )

    # -- public ------------------------------------------------------------------------------
    def complete(
        self,
        request: ChatRequest | Mapping[str, Any],
        *,
        read: bool = True,
        write: bool = True,
        ttl: float | None = None,
        max_age: float | None = None,
    ) -> Result:
        """Answer ``request`` from cache where a verified answer can be made, else from the model.

        ``read=False`` answers from the model even if the cache could (a caller's ``no-cache``);
        ``write=False`` stores nothing from this request (``no-store``); ``ttl`` keeps what it
        stores at most that many seconds; ``max_age`` serves it only from entries stored less than
        that many seconds ago.
        """
        req = coerce_request(request)
        family, task = self._detect(req)
        scope = Scope(req.namespace, req.model, family.name)
        key = exact_key(scope, req)

        lookup = _Lookup(text=family.retrieval_text(req, task), read=read, write=write, ttl=ttl, max_age=max_age)
        result = self._cached(req, family, task, scope, key, lookup)
        if result is None:
            result = self._fresh(req, family, task, scope, key, lookup)
        self._served(req, family, task, result, lookup)
        return result

    def _cached(
        self, req: ChatRequest, family: Family[Any], task: Task[Any], scope: Scope, key: str, lookup: _Lookup
    ) -> Result | None:
        """The answer from the cache (reuse or patch), or ``None``; then ``lookup`` holds what the
        fresh answer reports (the semantic neighbour that makes it a ``skip``)."""
        if not lookup.read:
            return None
        result = self._reuse_or_patch(req, family, task, scope, key, lookup)
        if result is None and not lookup.candidates:
            lookup.semantic_neighbour = self._semantic_neighbour(req, family, lookup)
        return result

    def lookup(self, request: ChatRequest | Mapping[str, Any]) -> Result | None:
        """The answer :meth:`complete` would serve from cache alone (path ``reuse``), or ``None``
        when answering needs the model (a miss, a semantic change, a candidate that needs patching).

        Never calls the backend on the request path (a sampled audit does, in the background) and
        stores no entry, so it is cheap and bounded: the proxy tries it
        on its event loop before paying a thread-pool hop. A served answer is recorded in the store's
        statistics exactly as :meth:`complete` records it; ``None`` records nothing (the caller's
        :meth:`complete` will).
        """
        req = coerce_request(request)
        family, task = self._detect(req)
        scope = Scope(req.namespace, req.model, family.name)
        lookup = _Lookup(text=family.retrieval_text(req, task))
        result = self._reuse_or_patch(req, family, task, scope, exact_key(scope, req), lookup, patch=False)
        if result is not None:
            self._served(req, family, task, result, lookup)
        return result

    def stream(
        self,
        request: ChatRequest | Mapping[str, Any],
        *,
        read: bool = True,
        write: bool = True,
        ttl: float | None = None,
        max_age: float | None = None,
    ) -> AnswerStream:
        """Answer ``request`` as :meth:`complete` would, as text pieces sent as soon as they are safe.

        A reuse or patch comes in one piece at once. A fresh answer comes as the model writes it, as
        far as its family can vouch for it (:meth:`Family.verify_prefix`): the ``generic`` family's
        text as it arrives; a step family's steps once each is complete and verified — the first
        failing step is never sent: the model's stream is closed there, the answer is repaired from
        the verified steps (the patch path) and the repaired steps follow; JSON once the whole
        object verifies. The pieces joined are :attr:`AnswerStream.result`'s text. Closing the
        stream early (a client that hung up) closes the model's stream and stores nothing.
        """
        lookup = _Lookup(read=read, write=write, ttl=ttl, max_age=max_age)
        return AnswerStream(self._streamed(coerce_request(request), lookup))

    def _streamed(self, req: ChatRequest, lookup: _Lookup) -> Generator[Route | str, None, Result]:
        family, task = self._detect(req)
        scope = Scope(req.namespace, req.model, family.name)
        key = exact_key(scope, req)
        lookup.text = family.retrieval_text(req, task)
        result = self._cached(req, family, task, scope, key, lookup)
        if result is not None:
            yield result.path
            if result.text:
                yield result.text
            self._served(req, family, task, result, lookup)
            return result
        yield Route.SKIP if lookup.failed_patch is not None or lookup.semantic_neighbour is not None else Route.MISS
        sent = ""
        settled: tuple[str, ...] = ()
        upstream = self.backend.stream(family.fresh_request(req, task))
        completion: Completion | None = None
        raw, pieces, frozen = "", 0, False
        quiet_since: float | None = None  # when a piece was last sent (None: the model not heard yet)
        try:
            for item in upstream:
                if isinstance(item, Completion):
                    completion = item
                    break
                raw += item
                pieces += 1
                if quiet_since is None or time.monotonic() - quiet_since >= _HEARTBEAT_S:
                    # Nothing to send yet, but the model is answering: an empty piece lets the
                    # consumer commit its response (and notice a client that has gone).
                    quiet_since = time.monotonic()
                    yield ""
                if frozen or (family.prefix_unit == "line" and "\n" not in item):
                    continue
                text = raw if family.prefix_unit == "text" else raw[: raw.rfind("\n") + 1]
                prefix = family.verify_prefix(task, text)
                if prefix is None:
                    frozen = True  # this family sends nothing before the whole answer verifies
                    continue
                if prefix.text.startswith(sent) and len(prefix.text) > len(sent):
                    yield prefix.text[len(sent) :]
                    quiet_since = time.monotonic()
                    sent, settled = prefix.text, prefix.steps
                if prefix.failed:
                    frozen = True
                    if family.repair_fresh and type(family).fix is Family.fix:
                        # (A family with its own fix may mend the whole answer without the model.)
                        # Repaired from the verified steps: the rest of this answer is not needed.
                        completion = Completion(text=text, completion_tokens=pieces, finish_reason="cut")
                        break
        finally:
            close = getattr(upstream, "close", None)
            if callable(close):
                close()
        if completion is None:
            raise UpstreamProtocolError(f"the {self.backend.name} backend's stream ended without its completion")
        result = self._fresh(req, family, task, scope, key, lookup, completion=completion)
        if not result.text.startswith(sent):
            result = self._after_sent(family, task, settled, sent, result)
        if len(result.text) > len(sent):
            yield result.text[len(sent) :]
        self._served(req, family, task, result, lookup)
        return result

    def _after_sent(
        self, family: Family[Any], task: Task[Any], settled: tuple[str, ...], sent: str, result: Result
    ) -> Result:
        """The verified answer that follows the steps already sent, when the repaired answer does
        not begin with them (a fallback written from scratch): the sent steps, then the answer's."""
        steps = list(settled) + [s for s in family.segment(task, result.text) if s not in settled]
        report = family.verify(task, steps)
        text = family.render(task, steps)
        if report.ok and text.startswith(sent):
            return replace(
                result,
                text=text,
                verification=report,
                detail=f"{result.detail}; continued after the steps already streamed",
            )
        raise UnverifiableAnswer(
            "the repaired answer does not continue the verified steps already streamed; retry without streaming",
            report=report,
        )

    def _served(self, req: ChatRequest, family: Family[Any], task: Task[Any], result: Result, lookup: _Lookup) -> None:
        """An answer was given: count it, and offer what came from the cache to the audit."""
        self._record(req, family, result, lookup)
        if lookup.served is not None:
            self.audits.offer(req, family, task, result, lookup.served)

    def _record(self, req: ChatRequest, family: Family[Any], result: Result, lookup: _Lookup) -> None:
        saved = 0
        if result.entry is not None and result.path in (Route.REUSE, Route.PATCH):
            matched = next(c.entry for c in lookup.candidates if c.entry.id == result.entry)
            saved = max(0, matched.cost.total - result.upstream_tokens.total)
        try:
            self.store.record(req.namespace, family.name, result.path, result.upstream_tokens, saved)
        except StoreError as exc:  # statistics are best-effort: a failed counter never fails a request
            log.warning("could not count a %s answer in the store's statistics: %s", result.path.value, exc)

    def close(self) -> None:
        # Audits first: they count their outcomes in the store and call the backend.
        self.audits.close()
        self.store.close()
        self.backend.close()
        self.embedder.close()

    def __enter__(self) -> StepCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- retrieve ----------------------------------------------------------------------------
    def _detect(self, req: ChatRequest) -> tuple[Family[Any], Task[Any]]:
        for family in self.families:
            task = family.detect(req)
            if task is not None:
                return family, task
        raise AssertionError("the catch-all family declined a request")  # pragma: no cover

    def _candidates(
        self, req: ChatRequest, family: Family[Any], task: Task[Any], scope: Scope, key: str, found: _Lookup
    ) -> Iterator[_Candidate]:
        """Candidates, cheapest first; later stages run only if earlier ones did not verify."""
        exact = self.store.get(key)
        if exact is not None and found.fresh_enough(exact):
            yield found.add(_Candidate(exact, 1.0, "exact"))
            return
        if not task.reusable:
            return
        seen: set[str] = set()
        for entry in self.store.by_signature(scope, task.signature, limit=self.config.max_candidates):
            seen.add(entry.id)
            if found.fresh_enough(entry):
                yield found.add(_Candidate(entry, None, "signature"))
        if family.min_similarity > 1.0:
            return
        for entry, sim in _newest_among_equals(self._neighbours(req, found, family.name)):
            if len(found.candidates) >= self.config.max_candidates:
                return
            if sim >= family.min_similarity and entry.id not in seen and found.fresh_enough(entry):
                seen.add(entry.id)
                yield found.add(_Candidate(entry, sim, "neighbour"))

    def _load_task(self, family: Family[Any], entry: Entry) -> Task[Any]:
        """Parsed tasks of cached entries are memoised: entries are immutable once stored."""
        memo_key = (family.name, entry.id)
        task = self._tasks.get(memo_key)
        if task is None:
            task = family.load_task(entry.task)
            if len(self._tasks) >= _TASK_MEMO_SIZE:
                self._tasks.clear()
            self._tasks[memo_key] = task
        return task

    def _neighbours(self, req: ChatRequest, found: _Lookup, family: str | None) -> list[tuple[Entry, float]]:
        if found.vector is None:
            found.vector = self.embedder.embed(found.text or req.prompt)
        return self.store.nearest(
            req.namespace, req.model, found.vector, self.config.neighbours, family, embedder=self.embedder.name
        )

    def _semantic_neighbour(self, req: ChatRequest, family: Family[Any], found: _Lookup) -> _Candidate | None:
        """A close entry of *another* family: the request changed kind, not constants."""
        for entry, sim in self._neighbours(req, found, None):
            if entry.scope.family != family.name and sim >= self.config.skip_similarity:
                return _Candidate(entry, sim, "neighbour")
        return None

    # -- reuse / patch -----------------------------------------------------------------------
    def _reuse_or_patch(
        self,
        req: ChatRequest,
        family: Family[Any],
        task: Task[Any],
        scope: Scope,
        key: str,
        lookup: _Lookup,
        *,
        patch: bool = True,
    ) -> Result | None:
        """A reuse, or (with ``patch``) the best candidate repaired; ``None``: answer fresh."""
        best: tuple[_Candidate, tuple[str, ...], tuple[_Candidate, list[str], Verification]] | None = None
        for cand in self._candidates(req, family, task, scope, key, lookup):
            if cand.how == "exact":
                # Stored only after it verified for this very request under this FORMAT_VERSION.
                n = len(cand.entry.steps)
                lookup.served = cand.entry.steps
                return Result(
                    text=cand.entry.text,
                    path=Route.REUSE,
                    family=family.name,
                    entry=cand.entry.id,
                    similarity=1.0,
                    steps=StepCounts(reused=n, patched=0, total=n),
                    verification=Verification(tuple(StepCheck(i, True) for i in range(n))),
                    detail="exact match, verified when stored",
                )
            cached = self._load_task(family, cand.entry)
            adapted = family.adapt(cand.entry, cached, task)
            if adapted is None or isinstance(adapted, SemanticChange):
                if lookup.semantic_neighbour is None:
                    lookup.semantic_neighbour = cand
                    lookup.semantic_reason = "" if adapted is None else adapted.reason
                continue
            if not isinstance(adapted, Adaptation):
                adapted = Adaptation(list(adapted))
            steps = adapted.steps
            report = family.verify(task, steps)
            if report.ok:
                lookup.served = steps
                return Result(
                    text=family.render(task, steps),
                    path=Route.REUSE,
                    family=family.name,
                    entry=cand.entry.id,
                    similarity=cand.similarity,
                    steps=StepCounts(reused=len(steps), patched=0, total=len(steps)),
                    verification=report,
                    detail=f"{cand.how} match, all {len(steps)} steps verified",
                )
            # The most steps verified wins; among equals the newest entry, which knows the most
            # about its layout (extraction programs confirmed by later answers).
            if best is None or (_passing(report), cand.entry.created_at) > (
                _passing(best[2][2]),
                best[0].entry.created_at,
            ):
                best = (cand, adapted.notes, (cand, steps, report))
        if best is None or not patch:
            return None  # every candidate was a semantic change (answer fresh, as skip), or lookup only
        notes, (cand, steps, report) = best[1], best[2]
        kept = _passing(report)
        repaired = self._repair(req, family, task, steps, report, strict=False)
        if not repaired.report.ok and not repaired.doubtful:
            # The cached steps and the model's repair still do not verify: the whole request goes to
            # the model as the caller wrote it, as on a miss, rather than failing the request.
            lookup.failed_patch = (cand, repaired)
            return None
        total = len(repaired.steps)
        reused = 0 if repaired.fallback else min(kept, total)
        result = Result(
            text=family.render(task, repaired.steps),
            path=Route.PATCH,
            family=family.name,
            entry=cand.entry.id,
            similarity=cand.similarity,
            steps=StepCounts(reused=reused, patched=total - reused, total=total),
            upstream_tokens=repaired.usage,
            verification=repaired.report,
            fallback=repaired.fallback,
            detail=f"{cand.how} match; {'; '.join((*notes, report.summary()))}; "
            f"regenerated with {repaired.calls} model call(s)"
            + ("; deterministic fallback" if repaired.fallback else ""),
        )
        lookup.served = repaired.steps
        return self._store(req, family, task, scope, key, lookup, repaired, result, source=cand.entry)

    def _repair(
        self,
        req: ChatRequest,
        family: Family[Any],
        task: Task[Any],
        steps: list[str],
        report: Verification,
        *,
        strict: bool = True,
        model_rounds: int | None = None,
    ) -> _Repaired:
        """Bounded model repair of the failing region, then the family's deterministic fallback.
        A result still failing raises :class:`UnverifiableAnswer` (``strict``) or is returned."""
        out = _Repaired(steps=steps, report=report)
        _fix(family, task, out)
        rounds = family.max_repairs if model_rounds is None else model_rounds
        while not out.report.ok and out.calls < rounds:
            if out.report.only_doubts and not family.repair_doubts:
                break
            completion = self.backend.complete(family.patch_request(req, task, out.steps, out.report))
            out.calls += 1
            out.usage = out.usage + TokenUsage.of(completion)
            out.steps = family.stitch(task, out.steps, out.report, completion.text)
            out.report = family.verify(task, out.steps)
            _fix(family, task, out)  # the model's continuation may slip too
        if not out.report.ok:
            fallback = family.fallback(task)
            if fallback is not None:
                fb_report = family.verify(task, fallback)
                if not fb_report.ok:  # a family bug; never serve it
                    raise UnverifiableAnswer(
                        f"the {family.name} fallback failed its own verifier: {fb_report.summary()}",
                        report=fb_report,
                    )
                out.steps, out.report, out.fallback = list(fallback), fb_report, True
        if out.report.only_doubts:  # nothing proven wrong: serve the model's answer, store nothing
            out.doubtful = True
            return out
        if not out.report.ok and strict and family.serve_unverified:
            # The family can check but not write this answer: the caller gets the model's own
            # answer as it came, and nothing is stored.
            out.steps, out.report, out.doubtful = steps, report, True
            return out
        if not out.report.ok and strict:
            raise UnverifiableAnswer(
                f"the model's {family.name} answer still fails verification after {out.calls} repair "
                f"attempt(s): {out.report.summary()}. Nothing was stored; retry, or use a stronger model",
                report=out.report,
            )
        return out

    # -- miss / skip ---------------------------------------------------------------------------
    def _fresh(
        self,
        req: ChatRequest,
        family: Family[Any],
        task: Task[Any],
        scope: Scope,
        key: str,
        lookup: _Lookup,
        *,
        completion: Completion | None = None,
    ) -> Result:
        """Answer from the model (or from ``completion``, the model's answer already streamed)."""
        if completion is None:
            completion = self.backend.complete(family.fresh_request(req, task))
        steps = family.segment(task, completion.text)
        report = family.verify(task, steps)
        repaired = self._repair(req, family, task, steps, report, model_rounds=None if family.repair_fresh else 0)
        repaired.usage = TokenUsage.of(completion) + repaired.usage
        skip = lookup.semantic_neighbour
        if lookup.failed_patch is not None:
            failed, attempt = lookup.failed_patch
            repaired.usage = attempt.usage + repaired.usage
            path, detail = (
                Route.SKIP,
                (
                    f"{failed.how} match with entry {failed.entry.id}, but its patch still failed after "
                    f"{attempt.calls} model call(s) ({attempt.report.summary()}): generated fresh"
                ),
            )
        elif skip is not None:
            path, detail = (
                Route.SKIP,
                (
                    f"semantic change from entry {skip.entry.id} ({skip.entry.scope.family}"
                    f"{'' if skip.similarity is None else f', similarity {skip.similarity:.2f}'})"
                    f"{': ' + lookup.semantic_reason if lookup.semantic_reason else ''}: generated fresh"
                ),
            )
        else:
            path, detail = Route.MISS, "no similar entry cached: generated fresh"
        if repaired.fixed:
            detail += "; arithmetic corrected without the model"
        if repaired.calls:
            detail += f"; repaired with {repaired.calls} model call(s)"
        if repaired.fallback:
            detail += "; deterministic fallback"
        if not lookup.read:
            detail += "; the caller asked not to be answered from the cache"
        result = Result(
            text=family.render(task, repaired.steps),
            path=path,
            family=family.name,
            entry=None,
            similarity=(
                lookup.failed_patch[0].similarity
                if lookup.failed_patch is not None
                else None
                if skip is None
                else skip.similarity
            ),
            steps=StepCounts(reused=0, patched=len(repaired.steps), total=len(repaired.steps)),
            upstream_tokens=repaired.usage,
            verification=repaired.report,
            fallback=repaired.fallback,
            detail=detail,
        )
        # A fresh answer after a semantic change can still confirm what that entry learned.
        return self._store(
            req,
            family,
            task,
            scope,
            key,
            lookup,
            repaired,
            result,
            source=(
                lookup.failed_patch[0].entry
                if lookup.failed_patch is not None
                else None
                if skip is None
                else skip.entry
            ),
        )

    # -- store ---------------------------------------------------------------------------------
    def _store(
        self,
        req: ChatRequest,
        family: Family[Any],
        task: Task[Any],
        scope: Scope,
        key: str,
        lookup: _Lookup,
        repaired: _Repaired,
        result: Result,
        source: Entry | None = None,
    ) -> Result:
        if repaired.doubtful:
            return replace(
                result, detail=f"{result.detail}; served unverified, not stored: {repaired.report.summary()}"
            )
        if not self.config.store_answers or not lookup.write:
            return result
        vector = lookup.vector if lookup.vector is not None else self.embedder.embed(lookup.text or req.prompt)
        entry = Entry(
            key=key,
            scope=scope,
            signature=task.signature,
            prompt=req.prompt,
            task=dict(task.data),
            steps=tuple(repaired.steps),
            text=result.text,
            embedding=np.asarray(vector, dtype=np.float32),
            embedder=self.embedder.name,
            prepared=family.prepare(task, repaired.steps, source),
            cost=repaired.usage,
            expires_at=None if lookup.ttl is None else time.time() + lookup.ttl,
        )
        try:
            stored = self.store.put(entry)
        except StoreError as exc:
            # The model has answered: the caller gets the answer even though the cache cannot keep it.
            log.warning("a %s answer was served but could not be stored: %s", result.path.value, exc)
            return replace(result, detail=f"{result.detail}; not stored: the cache store failed ({exc})")
        return replace(result, stored=stored.id)


#: Neighbours this close to the best one are equally good matches (documents of one template); among
#: them the newest comes first, since an entry stored later learned from more answers.
_EQUAL_SIMILARITY = 0.05


def _newest_among_equals(found: list[tuple[Entry, float]]) -> list[tuple[Entry, float]]:
    if not found:
        return found
    best = max(sim for _, sim in found)
    close = sorted((p for p in found if _sim_close(p[1], best)), key=lambda p: p[0].created_at, reverse=True)
    return close + [p for p in found if not _sim_close(p[1], best)]


def _sim_close(sim: float, best: float) -> bool:
    return best - sim <= _EQUAL_SIMILARITY


def _fix(family: Family[Any], task: Task[Any], out: _Repaired) -> None:
    """The family's correction without the model, kept when it verifies better."""
    if out.report.ok:
        return
    fixed = family.fix(task, out.steps, out.report)
    if fixed is not None:
        report = family.verify(task, fixed)
        if report.ok or _passing(report) > _passing(out.report):
            out.steps, out.report, out.fixed = list(fixed), report, True


def _passing(report: Verification) -> int:
    return sum(1 for s in report.steps if s.ok)


def _with_catch_all(families: list[Family[Any]]) -> list[Family[Any]]:
    names = [f.name for f in families]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"task family names must be unique, got {names}")
    if "generic" not in names:
        from .families.generic import GenericFamily

        families.append(GenericFamily())
    return sorted(families, key=lambda f: f.priority)
