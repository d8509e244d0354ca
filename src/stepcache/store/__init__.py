"""Stores: where verified entries live."""

from ._base import Store

__all__ = ["Store"]
