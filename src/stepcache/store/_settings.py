"""A store's options: one pydantic model per store, which its constructor and its URL both fill.

``SQLiteStore(path, busy_timeout=2)`` and ``sqlite:///path?busy_timeout=2`` are validated by the
same :class:`SQLiteSettings`: each option is written once, as a field, and a URL's query maps onto
the fields by name (:meth:`StoreSettings.from_query`; sizes and durations may be written ``500M``,
``7d``). An option no field has is a :class:`ConfigurationError` that lists the ones there are.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any, Self
from urllib.parse import parse_qsl

from pydantic import ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticUndefined

from .._exceptions import ConfigurationError
from ..retrieve.index import DEFAULT_THRESHOLD
from ._counters import FLUSH_EVERY, FLUSH_SECONDS
from ._lifecycle import Limits, parse_bytes, parse_seconds

__all__ = ["StoreSettings", "DatabaseSettings", "MemorySettings", "SQLiteSettings"]


class StoreSettings(Limits):
    """The options every store takes: its size cap and expiry."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("max_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_bytes(value) if isinstance(value, str) else value

    @field_validator("ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_seconds(value) if isinstance(value, str) else value

    @classmethod
    def options(cls) -> list[str]:
        """The option names, as a constructor or a URL spells them."""
        return [field.alias or name for name, field in cls.model_fields.items()]

    @classmethod
    def parse(cls, options: Mapping[str, Any], where: str) -> Self:
        """The settings ``options`` give, or a :class:`ConfigurationError` that says which is wrong
        and what it should be."""
        try:
            return cls.model_validate(dict(options))
        except ValidationError as exc:
            raise ConfigurationError(f"invalid options for {where}: {cls._problems(exc)}") from exc

    @classmethod
    def from_query(
        cls, query: str, where: str, *, passthrough: Container[str] = ()
    ) -> tuple[Self, list[tuple[str, str]]]:
        """The settings in a URL's ``query``, and the pairs named in ``passthrough`` (which belong to
        someone else, e.g. libpq); any other name is an error."""
        known = cls.options()
        ours: dict[str, str] = {}
        rest: list[tuple[str, str]] = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name in known:
                ours[name] = value
            elif name in passthrough:
                rest.append((name, value))
            else:
                raise ConfigurationError(f"{where} has no option {name!r}; it takes {', '.join(known)}{cls._others()}")
        return cls.parse(ours, where), rest

    @classmethod
    def _others(cls) -> str:
        """What else a URL's query may hold, for the unknown-option message."""
        return ""

    @classmethod
    def _problems(cls, exc: ValidationError) -> str:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if not error["loc"]:  # a check across fields: its message names them
                problems.append(message)
                continue
            name = str(error["loc"][0])
            field = next((f for n, f in cls.model_fields.items() if name in (n, f.alias)), None)
            hint = f" ({name}: {field.description})" if field is not None and field.description else ""
            if error["type"] == "extra_forbidden":
                message, hint = "no such option", f" (the options are {', '.join(cls.options())})"
            shown = "" if error["input"] is PydanticUndefined else f"={error['input']!r}"
            problems.append(f"{name}{shown}: {message}{hint}")
        return "; ".join(problems)


class MemorySettings(StoreSettings):
    """``MemoryStore``'s options, and those of every store that searches its vectors in memory."""

    index_threshold: int = Field(
        default=DEFAULT_THRESHOLD, ge=1, description="entries per scope from which vector search uses faiss HNSW"
    )


class DatabaseSettings(StoreSettings):
    """The options of the stores that buffer counters and last uses (``_counters``)."""

    flush_every: int = Field(default=FLUSH_EVERY, ge=1, description="write buffered counters after this many records")
    flush_interval: float = Field(
        default=FLUSH_SECONDS, ge=0, description="... or after this many seconds, whichever comes first"
    )


class SQLiteSettings(DatabaseSettings, MemorySettings):
    """``SQLiteStore``'s options (it searches its vectors in memory too)."""

    busy_timeout: float = Field(default=0.5, ge=0, description="seconds a write waits for another writer: 0 or more")
