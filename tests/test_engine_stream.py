"""StepCache.stream: what is sent while the model is still writing, and what never is."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

from engine_harness import LINEAR_ANSWER, PERSON, user
from stepcache import BackendRequest, Completion, MemoryStore, Route, ScriptedBackend, StepCache
from stepcache.backends import Backend


class LineBackend(Backend):
    """Streams queued answers a line at a time and records how far it had got whenever the
    consumer received a piece."""

    name = "lines"

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls: list[BackendRequest] = []
        self.produced = 0  # lines handed out by the stream in progress
        self.finished = threading.Event()
        self.closed_early = 0

    def complete(self, request: BackendRequest) -> Completion:
        self.calls.append(request)
        return Completion(self.answers.pop(0), 10, 10)

    def stream(self, request: BackendRequest) -> Iterator[str | Completion]:
        self.calls.append(request)
        text = self.answers.pop(0)
        self.produced = 0
        self.finished.clear()
        try:
            for line in text.splitlines(keepends=True):
                self.produced += 1
                yield line
        except GeneratorExit:
            self.closed_early += 1
            raise
        self.finished.set()
        yield Completion(text, 10, 10)


def test_a_generic_miss_streams_as_it_is_written_and_is_stored_whole() -> None:
    backend = ScriptedBackend(["Paris is the capital of France. It lies on the Seine."])
    cache = StepCache(backend, store=MemoryStore())
    stream = cache.stream(user("Tell me about Paris"))
    assert stream.start() is Route.MISS
    pieces = [piece for piece in stream if piece]
    assert len(pieces) > 5  # word by word, not the whole answer at the end
    assert stream.result is not None and "".join(pieces) == stream.result.text
    again = cache.stream(user("Tell me about Paris"))
    assert list(again) == [stream.result.text] and again.path is Route.REUSE
    assert len(backend.calls) == 1


def test_linear_steps_are_sent_before_the_model_has_finished() -> None:
    backend = LineBackend(LINEAR_ANSWER)
    cache = StepCache(backend, store=MemoryStore())
    stream = cache.stream(user("Solve 3x + 5 = 20"))
    first = next(piece for piece in stream if piece)
    assert first == "1. 3x + 5 = 20" and backend.produced == 1 and not backend.finished.is_set()
    rest = [piece for piece in stream if piece]
    assert stream.result is not None and stream.result.path is Route.MISS
    assert first + "".join(rest) == stream.result.text == cache.complete(user("Solve 3x + 5 = 20")).text
    assert rest[-1].endswith("x = 5")  # the answer line comes with the whole answer's checks


def test_the_first_failing_step_is_never_sent_and_the_answer_is_repaired_from_the_verified_ones() -> None:
    wrong = "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 6\n4. x = 6\n"
    backend = LineBackend(wrong, "3. x = 15/3\n4. x = 5")
    cache = StepCache(backend, store=MemoryStore())
    stream = cache.stream(user("Solve 3x + 5 = 20"))
    pieces = [piece for piece in stream if piece]
    assert stream.result is not None
    assert all("6" not in piece for piece in pieces)
    assert backend.closed_early == 1 and backend.produced == 3  # closed at the failing step
    assert len(backend.calls) == 2  # the patch call continued from the verified steps
    assert "".join(pieces) == stream.result.text and stream.result.verification.ok
    assert stream.result.text.startswith("1. 3x + 5 = 20\n2. 3x = 15\n") and stream.result.text.endswith("x = 5")


def test_closing_a_stream_closes_the_models_and_stores_nothing() -> None:
    backend = LineBackend(LINEAR_ANSWER, LINEAR_ANSWER)
    store = MemoryStore()
    cache = StepCache(backend, store=store)
    stream = cache.stream(user("Solve 3x + 5 = 20"))
    next(piece for piece in stream if piece)
    stream.close()
    assert backend.closed_early == 1
    assert store.stats().entries == 0
    assert cache.complete(user("Solve 3x + 5 = 20")).path is Route.MISS


def test_json_is_sent_only_once_the_whole_object_verifies() -> None:
    answer = json.dumps({"name": "Alice", "age": 34, "city": "Paris"}, indent=2)
    backend = ScriptedBackend([answer])
    cache = StepCache(backend, store=MemoryStore())
    stream = cache.stream(user(PERSON, response_format={"type": "json_object"}))
    pieces = list(stream)
    assert pieces[0] == ""  # the model has begun: a heartbeat, nothing sendable yet
    assert [p for p in pieces if p] == [pieces[-1]] and stream.result is not None and pieces[-1] == stream.result.text


def test_a_reuse_comes_in_one_piece_with_its_path_known_first() -> None:
    backend = ScriptedBackend([LINEAR_ANSWER])
    cache = StepCache(backend, store=MemoryStore())
    cache.complete(user("Solve 3x + 5 = 20"))
    stream = cache.stream(user("Solve 4x + 2 = 30"))
    assert stream.start() is Route.REUSE
    pieces = [piece for piece in stream if piece]
    assert len(pieces) == 1 and pieces[0].endswith("x = 7") and len(backend.calls) == 1


def test_arithmetic_lines_flow_and_the_answer_line_waits() -> None:
    question = "Tom has 3 boxes with 4 apples each. He eats 2 apples. How many apples are left?"
    answer = "Tom has 3 * 4 = 12 apples.\nAfter eating 2, he has 12 - 2 = 10 apples.\nThe answer is 10.\n"
    backend = LineBackend(answer)
    cache = StepCache(backend, store=MemoryStore())
    stream = cache.stream(user(question))
    first = next(piece for piece in stream if piece)
    assert first == "Tom has 3 * 4 = 12 apples." and not backend.finished.is_set()
    rest = [piece for piece in stream if piece]
    assert stream.result is not None and stream.result.family == "arithmetic"
    assert first + "".join(rest) == stream.result.text and rest[-1].endswith("The answer is 10.")
