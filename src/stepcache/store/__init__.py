"""Stores: where verified entries live."""

from ._base import AuditStore, LifecycleStore, Store
from ._url import open_store
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["Store", "AuditStore", "LifecycleStore", "open_store", "MemoryStore", "SQLiteStore"]
