"""HashedNgramEmbedder: stable, normalised, and it ranks look-alike prompts above unrelated ones."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepcache.retrieve import Embedder, HashedNgramEmbedder

LINEAR = "Solve 3x + 5 = 20 for x. Show each step."
LINEAR_VARIANT = "Solve for y: 7y + 2 = 30. Show every step."
JSON_TASK = "Return a JSON object with keys name, age and city for the user Alice, who is 30."
JSON_VARIANT = "Return a JSON object with the keys title, year and author for the book Dune (1965)."
POEM = "Write a short poem about autumn leaves falling in the park."


@pytest.fixture
def embedder() -> HashedNgramEmbedder:
    return HashedNgramEmbedder()


def test_is_an_embedder_with_named_parameters() -> None:
    e = HashedNgramEmbedder(dim=256, ngram=(2, 4))
    assert isinstance(e, Embedder)
    assert e.dim == 256
    assert "256" in e.name and "2" in e.name and "4" in e.name
    assert HashedNgramEmbedder().name != e.name


def test_vector_shape_dtype_and_norm(embedder: HashedNgramEmbedder) -> None:
    v = embedder.embed(LINEAR)
    assert v.shape == (512,) and v.dtype == np.float32
    assert float(np.linalg.norm(v)) == pytest.approx(1.0, abs=1e-5)


def test_look_alikes_score_clearly_higher_than_unrelated(embedder: HashedNgramEmbedder) -> None:
    linear, linear_variant = embedder.embed(LINEAR), embedder.embed(LINEAR_VARIANT)
    json_task, json_variant = embedder.embed(JSON_TASK), embedder.embed(JSON_VARIANT)
    poem = embedder.embed(POEM)
    for a, b in [(linear, linear_variant), (json_task, json_variant)]:
        related = float(a @ b)
        for unrelated in (poem, json_task if a is linear else linear):
            assert related > float(a @ unrelated) + 0.2


def test_case_and_whitespace_do_not_matter(embedder: HashedNgramEmbedder) -> None:
    np.testing.assert_array_equal(embedder.embed("Solve  3x+5 =\n20"), embedder.embed("solve 3x+5 = 20"))


def test_same_vector_in_another_process(embedder: HashedNgramEmbedder) -> None:
    # Python's hash() is seeded per process; the embedder must not depend on it.
    code = (
        "import sys; from stepcache.retrieve.ngram import HashedNgramEmbedder; "
        "sys.stdout.write(HashedNgramEmbedder().embed(sys.argv[1]).tobytes().hex())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, LINEAR], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert bytes.fromhex(out) == embedder.embed(LINEAR).tobytes()


def test_empty_text_is_the_zero_vector(embedder: HashedNgramEmbedder) -> None:
    v = embedder.embed("   ")
    assert v.shape == (512,) and not v.any()


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        HashedNgramEmbedder(dim=1)
    with pytest.raises(ValueError):
        HashedNgramEmbedder(ngram=(4, 3))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_any_text_embeds_to_a_unit_or_zero_vector(text: str) -> None:
    v = HashedNgramEmbedder(dim=128).embed(text)
    assert v.shape == (128,) and v.dtype == np.float32
    assert np.isfinite(v).all()
    norm = float(np.linalg.norm(v))
    assert norm == pytest.approx(1.0, abs=1e-5) or norm == 0.0
    assert (norm == 0.0) == (len(" ".join(text.split())) == 0)
