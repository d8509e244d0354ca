"""The Embedder seam: text → L2-normalised float32 vector."""

from __future__ import annotations

from abc import ABC, abstractmethod

from .._types import Vector

__all__ = ["Embedder"]


class Embedder(ABC):
    #: Stable identifier; vectors from different embedders are never compared.
    name: str
    dim: int

    @abstractmethod
    def embed(self, text: str) -> Vector:
        """An L2-normalised float32 vector of length :attr:`dim`."""

    def close(self) -> None:
        """Release model sessions."""
