"""Retrieval: exact key, template signature, embedding neighbours."""

from ._base import Embedder
from .index import VectorIndex
from .ngram import HashedNgramEmbedder
from .onnx import MiniLMEmbedder

__all__ = ["Embedder", "HashedNgramEmbedder", "MiniLMEmbedder", "VectorIndex"]
