"""Choosing a backend from settings: an OpenAI-compatible upstream when one is named, else the
embedded model. The CLI, the proxy's workers and the demo/bench commands all go through here."""

from __future__ import annotations

from pathlib import Path

from ._base import Backend

__all__ = ["open_backend"]


def open_backend(
    upstream: str | None = None,
    *,
    model: str | None = None,
    api_key: str | None = None,
    model_path: str | Path | None = None,
    threads: int | None = None,
) -> Backend:
    """``OpenAIHTTPBackend(upstream)`` when ``upstream`` is set, else the embedded ``LlamaCppBackend``.

    ``model`` is the model name sent upstream; ``model_path`` and ``threads`` configure the embedded
    model (``model_path=None``: the bundled GGUF).
    """
    if upstream:
        from .http import OpenAIHTTPBackend

        return OpenAIHTTPBackend(upstream, api_key=api_key, model=model)
    from .llama import LlamaCppBackend

    return LlamaCppBackend(model_path, n_threads=threads)
