"""A :class:`Backend` that runs a GGUF model in-process with llama.cpp (``stepcache[local]``).

The request is translated into a ``create_chat_completion`` call, so the prompt goes through the
model's own chat template (read from the GGUF), and the answer back into a :class:`Completion`
with llama.cpp's token counts. One ``Llama`` object holds one KV cache and is not thread-safe, so
calls are serialised by a lock; concurrent callers simply queue.

``llama_cpp`` is imported only when this backend builds its own model, so the module imports (and
the tests run) without the extra installed; pass ``llama=`` to inject any object with llama-cpp-
python's ``create_chat_completion`` (outlines does the same).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

from .._exceptions import (
    BackendError,
    ConfigurationError,
    MissingDependency,
    UpstreamProtocolError,
    UpstreamStatusError,
)
from .._model import check_gguf, default_model_path
from .._types import BackendRequest, Completion
from ._base import Backend

__all__ = ["LlamaCppBackend", "DEFAULT_LOCAL_MODEL_NAME", "use_extra_buffers"]

#: The name the embedded model is served under (``/v1/models``, logs, reports).
DEFAULT_LOCAL_MODEL_NAME = "qwen2.5-coder-0.5b-instruct"


class _Llama(Protocol):
    """The part of ``llama_cpp.Llama`` this backend uses."""

    def create_chat_completion(self, **kwargs: Any) -> Any: ...


#: Held while a model loads with extra buffer types turned off (see :func:`_no_extra_buffers`).
_LOAD_LOCK = threading.Lock()


def _all_cores() -> int:
    # Respect CPU affinity (containers, taskset) where the platform exposes it.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


class LlamaCppBackend(Backend):
    """The embedded model (or any GGUF at ``model_path``) served in-process by llama.cpp.

    ``model_path=None`` uses the default model installed by ``stepcache[local]`` (joined and
    verified on first use, see :func:`stepcache._model.default_model_path`). ``n_threads=None``
    uses every core this process may run on. ``max_tokens`` caps answers whose request sets no
    limit. ``extra_buffers=None`` lets llama.cpp repack weights unless that would run its AMX
    kernels, which crash in this llama.cpp version (see :func:`use_extra_buffers`). Sampling is
    greedy unless a request asks for a temperature above 0, so answers are reproducible; ``seed``
    only matters then.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        llama: Any | None = None,
        name: str = DEFAULT_LOCAL_MODEL_NAME,
        seed: int = 0,
        max_tokens: int = 512,
        extra_buffers: bool | None = None,
        verbose: bool = False,
    ) -> None:
        if max_tokens <= 0:
            raise ConfigurationError(f"max_tokens must be positive, got {max_tokens}")
        self.name = name
        self.seed = seed
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._llama: _Llama | None = (
            llama if llama is not None else self._load(model_path, n_ctx, n_threads, extra_buffers, verbose)
        )

    def _load(
        self,
        model_path: str | Path | None,
        n_ctx: int,
        n_threads: int | None,
        extra_buffers: bool | None,
        verbose: bool,
    ) -> _Llama:
        # Import first: a missing extra should be reported before a 490 MB join is attempted.
        try:
            import llama_cpp
        except ImportError as exc:
            raise MissingDependency("llama-cpp-python", "local", "The embedded model") from exc
        path = default_model_path() if model_path is None else Path(model_path).expanduser()
        check_gguf(path)
        threads = n_threads if n_threads is not None else _all_cores()
        system_info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
        plain = nullcontext() if use_extra_buffers(system_info, extra_buffers) else _no_extra_buffers(llama_cpp)
        try:
            with plain:
                llama = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    seed=self.seed,
                    verbose=verbose,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ConfigurationError(
                f"llama.cpp could not load {path}: {exc}. The file may be damaged or of an architecture "
                "this llama.cpp build does not support: pass --model-path FILE to another GGUF file "
                "(or delete it, if it is the embedded model, so it is joined again)"
            ) from exc
        # cast: llama_cpp's TypedDict-typed signature is narrower than the **kwargs this backend sends.
        return cast(_Llama, llama)

    # -- the verb ---------------------------------------------------------------------------------

    def complete(self, request: BackendRequest) -> Completion:
        kwargs = self._translate(request)
        with self._lock:
            if self._llama is None:
                raise BackendError(f"the {self.name} backend is closed; create a new LlamaCppBackend")
            try:
                raw = self._llama.create_chat_completion(**kwargs)
            except ValueError as exc:
                # llama.cpp's only request-level ValueError is a prompt that does not fit the context.
                raise UpstreamStatusError(
                    f"{self.name} rejected the request: {exc}. Shorten the prompt or lower max_tokens, "
                    "or create the backend with a larger n_ctx",
                    status_code=400,
                ) from exc
            except Exception as exc:  # the boundary: whatever llama.cpp raises becomes a BackendError
                raise BackendError(f"{self.name} failed to generate: {type(exc).__name__}: {exc}") from exc
        return self._completion(raw)

    def stream(self, request: BackendRequest) -> Iterator[str | Completion]:
        """Tokens as llama.cpp samples them. llama-cpp-python's stream reports no usage, so the
        completion's tokens are the streamed pieces (one per sampled token) and the prompt's are
        what the context holds besides them (or, without that, the messages run through the
        tokenizer). Closing the iterator stops sampling."""
        kwargs = self._translate(request)
        kwargs["stream"] = True
        pieces: list[str] = []
        finish = "stop"
        with self._lock:
            if self._llama is None:
                raise BackendError(f"the {self.name} backend is closed; create a new LlamaCppBackend")
            try:
                chunks = self._llama.create_chat_completion(**kwargs)
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    piece = (choice.get("delta") or {}).get("content")
                    if isinstance(piece, str) and piece:
                        pieces.append(piece)
                        yield piece
                    finish = str(choice.get("finish_reason") or finish)
            except ValueError as exc:
                raise UpstreamStatusError(
                    f"{self.name} rejected the request: {exc}. Shorten the prompt or lower max_tokens, "
                    "or create the backend with a larger n_ctx",
                    status_code=400,
                ) from exc
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise UpstreamProtocolError(
                    f"{self.name} streamed a chunk without the expected fields ({exc!r})"
                ) from exc
            except GeneratorExit:
                raise
            except Exception as exc:  # the boundary: whatever llama.cpp raises becomes a BackendError
                raise BackendError(f"{self.name} failed to generate: {type(exc).__name__}: {exc}") from exc
            prompt_tokens = self._prompt_tokens(kwargs["messages"], len(pieces))
        yield Completion(
            text="".join(pieces),
            prompt_tokens=prompt_tokens,
            completion_tokens=len(pieces),
            model=self.name,
            finish_reason=finish,
        )

    def _prompt_tokens(self, messages: list[dict[str, Any]], generated: int) -> int:
        # After a generation the context holds the templated prompt and the sampled tokens.
        held = getattr(self._llama, "n_tokens", None)
        if isinstance(held, int) and held > generated:
            return held - generated
        tokenize = getattr(self._llama, "tokenize", None)
        if not callable(tokenize):
            return 0
        text = "\n".join(str(m.get("content", "")) for m in messages)
        try:
            return len(tokenize(text.encode("utf-8", "replace")))
        except Exception:  # an estimate only; never fail an answer over it
            return 0

    def _translate(self, request: BackendRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "messages": [dict(m) for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens if request.max_tokens is not None else self.max_tokens,
            "seed": self.seed,
        }
        if request.stop:
            kwargs["stop"] = list(request.stop)
        response_format = _response_format(request.response_format)
        if response_format is not None:
            kwargs["response_format"] = response_format
        return kwargs

    def _completion(self, raw: Any) -> Completion:
        try:
            choice = raw["choices"][0]
            text = choice["message"]["content"]
            usage = raw.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens", 0))
            completion_tokens = int(usage.get("completion_tokens", 0))
            finish_reason = choice.get("finish_reason") or "stop"
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise UpstreamProtocolError(
                f"{self.name} returned a chat completion without the expected fields ({exc!r})"
            ) from exc
        if not isinstance(text, str):
            raise UpstreamProtocolError(f"{self.name} returned no text content (got {type(text).__name__})")
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=self.name,
            finish_reason=str(finish_reason),
        )

    # -- the rest of the contract -----------------------------------------------------------------

    def models(self) -> list[str]:
        return [self.name]

    def close(self) -> None:
        """Free the model's weights and KV cache (an injected object is closed too, like httpx transports)."""
        with self._lock:
            llama, self._llama = self._llama, None
        close = getattr(llama, "close", None)
        if callable(close):
            close()


def use_extra_buffers(system_info: str, requested: bool | None) -> bool:
    """Whether to let llama.cpp put weights in its extra buffer types (AMX, CPU repacking).

    ``requested`` wins when given. Otherwise they are used unless the build has ggml's AMX kernels
    (``AMX_INT8 = 1`` in ``llama_print_system_info()``): in llama-cpp-python 0.3.36 those die of
    SIGILL in worker threads on AMX machines (seen on a Sapphire-Rapids-class VM; upstream
    llama.cpp PR #26954), killing the process with no Python error. A native build on such a
    machine has them; turning the extra buffers off keeps the plain AVX-512/AVX2 kernels, at some
    cost in prompt speed (no weight repacking).
    """
    if requested is not None:
        return requested
    return "AMX_INT8 = 1" not in system_info


@contextmanager
def _no_extra_buffers(llama_cpp: ModuleType) -> Iterator[None]:
    """Load a model with ``llama_model_params.use_extra_bufts = False``.

    ``llama_cpp.Llama`` exposes no argument for it but builds its model parameters by calling
    ``llama_cpp.llama_cpp.llama_model_default_params()`` during ``__init__``, so that function is
    swapped for one that clears the flag, for the duration of the load only, under a lock (the
    swap is process-wide). A llama-cpp-python without the field is left alone.
    """
    lowlevel = llama_cpp.llama_cpp
    original = lowlevel.llama_model_default_params
    if not hasattr(original(), "use_extra_bufts"):
        yield
        return

    def without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    with _LOAD_LOCK:
        lowlevel.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            lowlevel.llama_model_default_params = original


def _response_format(response_format: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's ``response_format`` in the form llama-cpp-python's chat handlers understand.

    llama.cpp constrains decoding with a grammar: ``{"type": "json_object"}`` for any JSON and
    ``{"type": "json_object", "schema": S}`` for JSON matching ``S``. OpenAI's ``json_schema`` form
    is carried over into the latter.
    """
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        schema = response_format.get("schema")
        return {"type": "json_object"} if schema is None else {"type": "json_object", "schema": schema}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise UpstreamStatusError(
                "response_format.json_schema.schema must be a JSON Schema object, "
                'e.g. {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}',
                status_code=400,
            )
        return {"type": "json_object", "schema": dict(schema)}
    raise UpstreamStatusError(
        f"response_format type {kind!r} is not supported by the embedded model; "
        "use 'text', 'json_object' or 'json_schema'",
        status_code=400,
    )
