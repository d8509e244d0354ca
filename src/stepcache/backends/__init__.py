"""Backends: the models StepCache calls."""

from ._base import Backend
from .http import OpenAIHTTPBackend
from .scripted import ScriptedBackend

__all__ = ["Backend", "OpenAIHTTPBackend", "ScriptedBackend"]
