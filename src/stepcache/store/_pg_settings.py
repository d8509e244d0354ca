"""The PostgreSQL store's options, its URL, and psycopg's errors turned into ours.

A ``postgresql://`` URL carries two kinds of query parameter: the store's own options (the fields
of :class:`PostgresSettings`: ``schema``, pool sizes, ``ef_search``, the size cap ...), which
:meth:`PostgresSettings.from_url` takes out, and libpq's connection parameters (``sslmode``,
``connect_timeout``, ``application_name``, ``options`` ...), which stay in the URL psycopg gets. A
parameter that is neither is refused, with both lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from pydantic import Field, model_validator

from .._exceptions import ConfigurationError, MissingDependency, StoreError
from ._settings import DatabaseSettings

__all__ = ["PostgresSettings", "redact", "connect_defaults", "store_errors"]


class PostgresSettings(DatabaseSettings):
    """The store's own options (the rest of the URL is libpq's)."""

    schema_: str = Field(
        default="public",
        alias="schema",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="the PostgreSQL schema the tables live in: lower-case letters, digits and _",
    )
    min_size: int = Field(default=1, ge=0, description="connections the pool keeps open")
    max_size: int = Field(default=10, ge=1, description="connections the pool opens at most")
    ef_search: int = Field(
        default=64, ge=1, le=1000, description="HNSW search breadth, 1 to 1000: higher is more accurate and slower"
    )
    #: Short on purpose: a server that is down (or so loaded that no connection frees up) then fails
    #: fast, and the proxy answers uncached.
    pool_timeout: float = Field(default=5.0, gt=0, description="seconds a request waits for a pooled connection")
    #: Off by default: a server crash may then lose the last fraction of a second of entries (extra
    #: misses, never a torn entry), and a put is several times faster. Client crashes lose nothing
    #: either way.
    synchronous_commit: bool = Field(default=False, description="wait for the WAL flush on every commit: on or off")

    @model_validator(mode="after")
    def _pool_sizes(self) -> PostgresSettings:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) must not exceed max_size ({self.max_size})")
        return self

    @classmethod
    def from_url(cls, url: str) -> tuple[PostgresSettings, str]:
        """The settings in ``url``'s query, and the URL left for libpq."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ConfigurationError(f"not a PostgreSQL URL: {redact(url)!r} (use postgresql://user@host:port/db)")
        settings, libpq = cls.from_query(parts.query, "the PostgreSQL store", passthrough=_libpq_parameters())
        # libpq decodes %XX but not '+', so spaces (as in options=-c x=y) must stay %20.
        return settings, urlunsplit(parts._replace(query=urlencode(libpq, quote_via=quote)))

    @classmethod
    def _others(cls) -> str:
        return (
            ", and libpq's connection parameters pass through (e.g. sslmode, connect_timeout, application_name, "
            "options; see the PostgreSQL manual, 'Parameter Key Words')"
        )


def _libpq_parameters() -> frozenset[str]:
    try:
        from psycopg import pq
    except ImportError as exc:
        raise MissingDependency("psycopg", "postgres", "The PostgreSQL store") from exc
    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def redact(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def connect_defaults(url: str) -> dict[str, Any]:
    # libpq waits forever for an unreachable host unless told otherwise.
    return {} if "connect_timeout" in url else {"connect_timeout": 10}


@contextmanager
def store_errors(where: str, settings: PostgresSettings, action: str) -> Iterator[None]:
    """Convert psycopg's errors into StoreError, with a hint on how to fix them."""
    import psycopg
    from psycopg import errors
    from psycopg_pool import PoolTimeout

    try:
        yield
    except PoolTimeout as exc:
        err = StoreError(
            f"PostgreSQL store ({where}): no connection free for {action} within "
            f"{settings.pool_timeout:g}s; the server is unreachable or overloaded, or "
            f"max_size={settings.max_size} is too small (add ?max_size=N to the URL)"
        )
        err.retryable = True
        raise err from exc
    except (errors.UndefinedFile, errors.FeatureNotSupported) as exc:
        raise StoreError(
            f"PostgreSQL at {where} lacks the pgvector extension ({exc}); install pgvector >= 0.8 "
            "on the server (scripts/postgres.sh start does it for a local test server)"
        ) from exc
    except errors.InsufficientPrivilege as exc:
        raise StoreError(
            f"PostgreSQL store ({where}): permission denied during {action} ({exc}); "
            "ask the database owner to run CREATE EXTENSION vector and grant this user CREATE on the database"
        ) from exc
    except psycopg.OperationalError as exc:
        err = StoreError(
            f"cannot reach PostgreSQL at {where} ({str(exc).strip()}); check the --store URL, "
            "or start a local test server with scripts/postgres.sh start"
        )
        err.retryable = True
        raise err from exc
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL store ({where}) failed during {action}: {exc}") from exc
