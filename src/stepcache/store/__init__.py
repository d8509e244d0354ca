"""Stores: where verified entries live."""

from ._base import AuditStore, Store
from ._url import open_store
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["Store", "AuditStore", "open_store", "MemoryStore", "SQLiteStore"]
