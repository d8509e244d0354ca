"""Fixtures for the engine tests at this level (test_engine*.py): a scripted backend, an in-memory
store and a StepCache over both. Subfolders with their own ``backend``/``store``/``cache`` override them.

Tests in the folders that run whole workloads, processes or the embedded model are marked ``slow``:
``make test-fast`` leaves them out for the inner loop (CI runs everything).
"""

from __future__ import annotations

from pathlib import Path

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


#: Folders whose tests serve whole corpora or workloads, start processes or load the embedded model.
SLOW_FOLDERS = frozenset({"bench", "corpus", "fleet", "integration", "metamorphic"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(root).parts
        if len(parts) > 1 and parts[0] in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)
