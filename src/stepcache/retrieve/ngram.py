"""A dependency-free embedder: hashed character n-grams.

Prompts that share a template share most of their character n-grams, whatever the constants and
names, so this is a good neighbour finder for StepCache's look-alike requests at a fraction of a
neural model's cost (~0.1 ms for a 300-character prompt, numpy only).

The hash is a fixed polynomial over Unicode code points followed by a 64-bit finaliser, computed
with numpy: it is stable across processes and machines (unlike :func:`hash`, which Python seeds
per process), so vectors stored by one process are comparable with vectors computed by another.
"""

from __future__ import annotations

import re

import numpy as np

from .._types import Vector
from ._base import Embedder

__all__ = ["HashedNgramEmbedder"]

_WHITESPACE = re.compile(r"\s+")

# Odd 64-bit constants: the polynomial base and the murmur3 fmix64 multipliers.
_BASE = np.uint64(0x100000001B3)
_FMIX1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT33 = np.uint64(33)
_SHIFT63 = np.uint64(63)
_ONE = np.uint64(1)
_MASK64 = (1 << 64) - 1


class HashedNgramEmbedder(Embedder):
    """Character n-grams (lower-cased, whitespace collapsed) hashed into ``dim`` signed buckets.

    Each distinct n-gram adds ``±(1 + log count)`` (sublinear term frequency) to one bucket; the
    sign comes from another bit of the same hash so that collisions cancel out on average rather
    than pile up. The result is L2-normalised float32; text with no n-gram at all (empty input)
    embeds as the zero vector, which is similar to nothing.
    """

    def __init__(self, dim: int = 512, ngram: tuple[int, int] = (3, 5)) -> None:
        low, high = ngram
        if dim < 2:
            raise ValueError(f"dim must be at least 2, got {dim}")
        if not 1 <= low <= high:
            raise ValueError(f"ngram must be (low, high) with 1 <= low <= high, got {ngram}")
        self.dim = dim
        self.ngram = (low, high)
        self.name = f"hashed-ngram-v1-d{dim}-n{low}-{high}"

    def embed(self, text: str) -> Vector:
        normalised = _WHITESPACE.sub(" ", text.lower()).strip()
        # Pad with spaces so word starts and ends become n-grams of their own.
        codes = np.frombuffer(f" {normalised} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        hashes = [self._hash_ngrams(codes, n) for n in range(self.ngram[0], self.ngram[1] + 1)]
        out = np.zeros(self.dim, dtype=np.float32)
        grams = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
        if grams.size == 0:
            return out
        unique, counts = np.unique(grams, return_counts=True)
        weights = 1.0 + np.log(counts)
        signs = np.where((unique >> _SHIFT63) & _ONE, -1.0, 1.0)
        buckets = (unique % np.uint64(self.dim)).astype(np.intp)
        out += np.bincount(buckets, weights=weights * signs, minlength=self.dim).astype(np.float32)
        norm = float(np.linalg.norm(out))
        if norm > 0.0:
            out /= norm
        return out

    @staticmethod
    def _hash_ngrams(codes: np.ndarray, n: int) -> np.ndarray:
        count = codes.size - n + 1
        if count <= 0:
            return np.empty(0, dtype=np.uint64)
        # Seeding with n keeps "abc" as a 3-gram distinct from any prefix state of a 4-gram.
        h = np.full(count, (n * int(_FMIX2)) & _MASK64, dtype=np.uint64)
        for j in range(n):
            h = h * _BASE + codes[j : j + count]  # uint64 arrays wrap silently, as intended
        h ^= h >> _SHIFT33
        h *= _FMIX1
        h ^= h >> _SHIFT33
        h *= _FMIX2
        h ^= h >> _SHIFT33
        return h

    def __repr__(self) -> str:
        return f"HashedNgramEmbedder(dim={self.dim}, ngram={self.ngram})"
