"""The ``json`` task family: JSON-object requests, verified and patched key by key."""

from ._family import JsonFamily

__all__ = ["JsonFamily"]
