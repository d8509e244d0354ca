"""Task families: how StepCache understands, verifies and repairs each kind of request."""

from ._base import Adaptation, Family, Prefix, SemanticChange, Task, steps_of

__all__ = ["Adaptation", "Family", "Prefix", "SemanticChange", "Task", "steps_of"]
