"""Task families: how StepCache understands, verifies and repairs each kind of request."""

from __future__ import annotations

from typing import Any

from ._base import Adaptation, Family, Prefix, SemanticChange, Task, steps_of

__all__ = ["Adaptation", "Family", "Prefix", "SemanticChange", "Task", "steps_of", "load_families"]


def load_families() -> list[Family[Any]]:
    """Every installed family (entry-point group ``stepcache.families``) in detection order: the list
    ``StepCache(families=None)`` uses. Replace one and pass the list as ``StepCache(families=...)``."""
    from .._plugins import load_families as installed  # _plugins imports this package: not at the top

    return installed()
