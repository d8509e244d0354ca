"""Task families: how StepCache understands, verifies and repairs each kind of request."""

from ._base import Adaptation, Family, SemanticChange, Task, steps_of

__all__ = ["Adaptation", "Family", "SemanticChange", "Task", "steps_of"]
