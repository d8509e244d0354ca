"""LlamaCppBackend with an injected fake ``Llama``: translation, usage, JSON mode, locking, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from stepcache._exceptions import (
    BackendError,
    ConfigurationError,
    MissingDependency,
    UpstreamProtocolError,
    UpstreamStatusError,
)
from stepcache._types import BackendRequest, Completion
from stepcache.backends._base import Backend
from stepcache.backends.llama import (
    DEFAULT_LOCAL_MODEL_NAME,
    LlamaCppBackend,
    _no_extra_buffers,
    use_extra_buffers,
)


class FakeLlama:
    """Answers like llama-cpp-python's ``create_chat_completion`` and records every call."""

    def __init__(self, text: str = "x = 5", *, delay: float = 0.0, raises: Exception | None = None) -> None:
        self.text = text
        self.delay = delay
        self.raises = raises
        self.calls: list[dict[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self.closed = False
        self._count_lock = threading.Lock()

    def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
        with self._count_lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                time.sleep(self.delay)
            self.calls.append(kwargs)
            if self.raises is not None:
                raise self.raises
            if kwargs.get("stream"):
                return self._chunks()
            return {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "/path/model.gguf",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": self.text}, "finish_reason": "length"}
                ],
                "usage": {"prompt_tokens": 17, "completion_tokens": 4, "total_tokens": 21},
            }
        finally:
            with self._count_lock:
                self.active -= 1

    def _chunks(self) -> Iterator[dict[str, Any]]:
        pieces = self.text.split(" ")
        for i, piece in enumerate(pieces):
            content = piece if i == 0 else " " + piece
            yield {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}

    n_tokens: int | None = None  # set by a test to what a real Llama holds after generating

    def tokenize(self, text: bytes) -> list[int]:
        return list(range(len(text.split())))

    def close(self) -> None:
        self.closed = True


def request(**overrides: Any) -> BackendRequest:
    fields: dict[str, Any] = {
        "messages": ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Solve 2x = 10"}),
        "model": "anything",
    }
    fields.update(overrides)
    return BackendRequest(**fields)


def test_is_a_backend_named_after_the_embedded_model() -> None:
    backend = LlamaCppBackend(llama=FakeLlama())
    assert isinstance(backend, Backend)
    assert backend.name == DEFAULT_LOCAL_MODEL_NAME == "qwen2.5-coder-0.5b-instruct"
    assert backend.models() == ["qwen2.5-coder-0.5b-instruct"]
    assert LlamaCppBackend(llama=FakeLlama(), name="mine").models() == ["mine"]


def test_translates_the_request_into_a_chat_completion_call() -> None:
    fake = FakeLlama()
    backend = LlamaCppBackend(llama=fake, seed=7)

    completion = backend.complete(request(max_tokens=64, stop=("\n\n",)))

    assert fake.calls == [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Solve 2x = 10"},
            ],
            "temperature": 0.0,
            "max_tokens": 64,
            "seed": 7,
            "stop": ["\n\n"],
        }
    ]
    assert completion.text == "x = 5"
    assert completion.prompt_tokens == 17
    assert completion.completion_tokens == 4
    assert completion.model == "qwen2.5-coder-0.5b-instruct"
    assert completion.finish_reason == "length"


def test_default_max_tokens_and_temperature() -> None:
    fake = FakeLlama()
    LlamaCppBackend(llama=fake).complete(request())
    LlamaCppBackend(llama=fake, max_tokens=99).complete(request(temperature=0.7))

    assert [c["max_tokens"] for c in fake.calls] == [512, 99]
    assert [c["temperature"] for c in fake.calls] == [0.0, 0.7]
    assert "stop" not in fake.calls[0]
    assert "response_format" not in fake.calls[0]


def test_invalid_default_max_tokens() -> None:
    with pytest.raises(ConfigurationError, match="max_tokens must be positive"):
        LlamaCppBackend(llama=FakeLlama(), max_tokens=0)


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ({"type": "json_object"}, {"type": "json_object"}),
        ({"type": "text"}, None),
        (
            {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object", "required": ["a"]}}},
            {"type": "json_object", "schema": {"type": "object", "required": ["a"]}},
        ),
        (  # llama-cpp-python's own spelling passes through
            {"type": "json_object", "schema": {"type": "array"}},
            {"type": "json_object", "schema": {"type": "array"}},
        ),
    ],
)
def test_response_format_is_honoured(given: dict[str, Any], sent: dict[str, Any] | None) -> None:
    fake = FakeLlama('{"a": 1}')
    LlamaCppBackend(llama=fake).complete(request(response_format=given))
    assert fake.calls[0].get("response_format") == sent


@pytest.mark.parametrize(
    "given",
    [
        {"type": "json_schema", "json_schema": {"name": "p"}},
        {"type": "json_schema"},
        {"type": "xml"},
    ],
)
def test_unusable_response_format_is_rejected_before_the_model_runs(given: dict[str, Any]) -> None:
    fake = FakeLlama()
    with pytest.raises(UpstreamStatusError) as info:
        LlamaCppBackend(llama=fake).complete(request(response_format=given))
    assert info.value.status_code == 400
    assert not info.value.retryable
    assert fake.calls == []


def test_concurrent_requests_are_serialised() -> None:
    fake = FakeLlama(delay=0.02)
    backend = LlamaCppBackend(llama=fake)
    results: list[str] = []
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        results.append(backend.complete(request()).text)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == ["x = 5"] * 4
    assert len(fake.calls) == 4
    assert fake.max_active == 1


def test_the_fake_would_notice_overlap_without_the_lock() -> None:
    # Guards the test above: called directly, without the backend's lock, calls do overlap.
    fake = FakeLlama(delay=0.05)
    start = threading.Barrier(3)

    def worker() -> None:
        start.wait()
        fake.create_chat_completion(messages=[])

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.max_active > 1


def test_context_overflow_becomes_a_400() -> None:
    fake = FakeLlama(raises=ValueError("Requested tokens (5000) exceed context window of 4096"))
    with pytest.raises(UpstreamStatusError, match="larger n_ctx") as info:
        LlamaCppBackend(llama=fake).complete(request())
    assert info.value.status_code == 400
    assert isinstance(info.value.__cause__, ValueError)


def test_other_llama_errors_become_backend_errors() -> None:
    fake = FakeLlama(raises=RuntimeError("llama_decode returned -3"))
    with pytest.raises(BackendError, match="llama_decode returned -3") as info:
        LlamaCppBackend(llama=fake).complete(request())
    assert isinstance(info.value.__cause__, RuntimeError)


class OddLlama:
    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def create_chat_completion(self, **kwargs: Any) -> Any:
        return self.raw


@pytest.mark.parametrize(
    "raw",
    [
        {"choices": []},
        {},
        {"choices": [{"message": {"role": "assistant", "content": None}}]},
        {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": "many"}},
        "not a dict",
    ],
)
def test_malformed_responses_are_protocol_errors(raw: Any) -> None:
    with pytest.raises(UpstreamProtocolError):
        LlamaCppBackend(llama=OddLlama(raw)).complete(request())


def test_missing_usage_counts_as_zero() -> None:
    raw = {"choices": [{"message": {"role": "assistant", "content": "ok"}}]}
    completion = LlamaCppBackend(llama=OddLlama(raw)).complete(request())
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == ("ok", 0, 0)
    assert completion.finish_reason == "stop"


def test_close_frees_the_model_and_later_calls_fail_clearly() -> None:
    fake = FakeLlama()
    backend = LlamaCppBackend(llama=fake)
    with backend:
        backend.complete(request())
    assert fake.closed
    with pytest.raises(BackendError, match="closed; create a new LlamaCppBackend"):
        backend.complete(request())
    backend.close()  # closing twice is harmless


def test_close_waits_for_a_request_in_flight() -> None:
    fake = FakeLlama(delay=0.1)
    backend = LlamaCppBackend(llama=fake)
    seen: list[bool] = []
    t = threading.Thread(target=lambda: seen.append(backend.complete(request()).text == "x = 5"))
    t.start()
    while not fake.active:
        time.sleep(0.001)
    backend.close()
    t.join()
    assert seen == [True]
    assert fake.closed


def test_a_path_that_is_not_gguf_is_a_configuration_error(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(ConfigurationError, match="not a GGUF file"):
        LlamaCppBackend(not_gguf)
    with pytest.raises(ConfigurationError, match="does not exist"):
        LlamaCppBackend(tmp_path / "absent.gguf")


def test_without_llama_cpp_the_error_names_the_extra() -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("llama-cpp-python is installed")
    with pytest.raises(MissingDependency, match=r"pip install 'stepcache\[local\]'"):
        LlamaCppBackend("/nowhere/model.gguf")


AMX_BUILD = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | OPENMP = 1 | REPACK = 1 | "
PLAIN_BUILD = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | OPENMP = 1 | REPACK = 1 | "


def test_extra_buffers_are_off_only_for_builds_with_amx_kernels() -> None:
    assert use_extra_buffers(PLAIN_BUILD, None) is True
    assert use_extra_buffers(AMX_BUILD, None) is False
    assert use_extra_buffers(AMX_BUILD, True) is True  # an explicit choice wins
    assert use_extra_buffers(PLAIN_BUILD, False) is False


def fake_llama_cpp(**fields: Any) -> ModuleType:
    """A stand-in for the ``llama_cpp`` package: ``llama_cpp.llama_cpp.llama_model_default_params``."""
    lowlevel = ModuleType("llama_cpp.llama_cpp")
    lowlevel.llama_model_default_params = lambda: SimpleNamespace(**fields)  # type: ignore[attr-defined]
    package = ModuleType("llama_cpp")
    package.llama_cpp = lowlevel  # type: ignore[attr-defined]
    return package


def test_no_extra_buffers_clears_the_flag_during_the_load_only() -> None:
    package = fake_llama_cpp(use_extra_bufts=True, n_gpu_layers=0)
    original = package.llama_cpp.llama_model_default_params

    with _no_extra_buffers(package):
        inside = package.llama_cpp.llama_model_default_params()
    after = package.llama_cpp.llama_model_default_params()

    assert inside.use_extra_bufts is False
    assert inside.n_gpu_layers == 0  # the other defaults are kept
    assert after.use_extra_bufts is True
    assert package.llama_cpp.llama_model_default_params is original


def test_no_extra_buffers_restores_the_defaults_when_the_load_fails() -> None:
    package = fake_llama_cpp(use_extra_bufts=True)
    original = package.llama_cpp.llama_model_default_params
    with pytest.raises(RuntimeError), _no_extra_buffers(package):
        raise RuntimeError("load failed")
    assert package.llama_cpp.llama_model_default_params is original


def test_no_extra_buffers_leaves_a_llama_cpp_without_the_field_alone() -> None:
    package = fake_llama_cpp(n_gpu_layers=0)
    original = package.llama_cpp.llama_model_default_params
    with _no_extra_buffers(package):
        assert package.llama_cpp.llama_model_default_params is original


def test_stream_yields_sampled_pieces_then_a_completion_counted_from_them() -> None:
    fake = FakeLlama("x = 5 because 3x = 15")
    items = list(LlamaCppBackend(llama=fake).stream(request()))
    assert items[:-1] == ["x", " =", " 5", " because", " 3x", " =", " 15"]
    last = items[-1]
    assert isinstance(last, Completion) and last.text == fake.text and last.finish_reason == "length"
    assert (
        last.completion_tokens == 7 and last.prompt_tokens == 6
    )  # the fake tokenizer: words of "Be brief." and "Solve 2x = 10"
    assert fake.calls[0]["stream"] is True


def test_a_closed_stream_releases_the_model_for_the_next_call() -> None:
    backend = LlamaCppBackend(llama=FakeLlama("a b c"))
    stream = backend.stream(request())
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    assert backend.complete(request()).text == "a b c"  # the lock was released


def test_a_stream_counts_the_prompt_from_what_the_context_holds() -> None:
    fake = FakeLlama("a b c")
    fake.n_tokens = 40  # the templated prompt (37) and the 3 sampled tokens
    last = list(LlamaCppBackend(llama=fake).stream(request()))[-1]
    assert isinstance(last, Completion) and (last.prompt_tokens, last.completion_tokens) == (37, 3)
