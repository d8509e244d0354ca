"""Task families: how StepCache understands, verifies and repairs each kind of request."""

from ._base import Family, Task

__all__ = ["Family", "Task"]
