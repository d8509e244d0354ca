"""Backends: the models StepCache calls."""

from ._base import Backend

__all__ = ["Backend"]
