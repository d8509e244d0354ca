"""Retrieval: exact key, template signature, embedding neighbours."""

from ._base import Embedder

__all__ = ["Embedder"]
