"""Backends: the models StepCache calls."""

from ._base import Backend
from ._credentials import current_upstream_key, upstream_key
from .http import OpenAIHTTPBackend
from .scripted import ScriptedBackend

__all__ = ["Backend", "OpenAIHTTPBackend", "ScriptedBackend", "current_upstream_key", "upstream_key"]
