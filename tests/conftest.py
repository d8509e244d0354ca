"""Fixtures for the engine tests at this level (test_engine*.py): a scripted backend, an in-memory
store and a StepCache over both. Subfolders with their own ``backend``/``store``/``cache`` override them.
"""

from __future__ import annotations

import pytest

from stepcache import MemoryStore, ScriptedBackend, StepCache


@pytest.fixture()
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture()
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture()
def cache(backend: ScriptedBackend, store: MemoryStore) -> StepCache:
    return StepCache(backend, store=store)
