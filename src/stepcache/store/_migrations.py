"""Numbered schema migrations, one scheme for the SQLite and PostgreSQL stores.

Each store lists its :class:`Migration` s (its own SQL, ``_sqlite_migrations`` and
``_pg_migrations``); :func:`migrate` applies the pending ones, each in its own transaction together
with the row that records it, so a crash leaves the database at the previous version, never
half-way. Append new migrations; never edit one that has shipped. A database whose recorded version
is higher than the last one known was written by a newer StepCache and is refused rather than
misread.

The record is the same table in both databases::

    schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)

``applied_at`` in Unix seconds. Databases made before the ``name`` column (SQLite: ``applied_at``
already in seconds; PostgreSQL: a ``timestamptz``) have their table brought to this shape first.
The table keeps the name older StepCaches read, so one that opens a database a newer one migrated
still sees the version and refuses it, instead of migrating from scratch.

Several processes may open a database at once: every step runs under the database's own lock (a
write transaction in SQLite, an advisory lock in PostgreSQL) and re-reads the version after taking
it; when the database is already current, opening takes no lock at all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from .._exceptions import StoreVersionError

__all__ = ["Migration", "Database", "migrate", "RECORDS", "CREATE_RECORDS"]

#: The table migrations are recorded in.
RECORDS = "schema_migrations"
#: Its shape, in SQL both databases accept (SQLite reads ``double precision`` as REAL).
CREATE_RECORDS = (
    f"CREATE TABLE {RECORDS} (version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    version: int
    #: What it does, recorded with it (``SELECT * FROM schema_migrations`` reads as a history).
    name: str
    sql: str


class Database(Protocol):
    """What :func:`migrate` needs of one database (a connection in autocommit mode)."""

    #: The database as error messages name it.
    where: str
    #: The driver's placeholder: ``?`` or ``%s``.
    mark: str

    def locked(self) -> AbstractContextManager[None]:
        """A transaction holding the lock that migrating processes queue on."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows."""

    def script(self, sql: str) -> None:
        """Run several statements (inside the current transaction)."""

    def record_columns(self) -> set[str]:
        """The columns of :data:`RECORDS`; empty when it does not exist yet."""

    def upgrade_records(self) -> None:
        """Bring a :data:`RECORDS` table without ``name`` to :data:`CREATE_RECORDS`'s shape."""

    def elsewhere(self) -> str:
        """How to use another database instead, for the too-new error."""


def migrate(db: Database, migrations: Sequence[Migration]) -> int:
    """Bring ``db`` up to the last of ``migrations``; returns the version it is at."""
    latest = migrations[-1].version if migrations else 0
    if "name" in db.record_columns() and _version(db) == latest:
        return latest  # current: no lock taken (another process may hold it for long)
    while True:
        with db.locked():
            columns = db.record_columns()
            if not columns:
                db.execute(CREATE_RECORDS)
            elif "name" not in columns:
                db.upgrade_records()
                for step in migrations:
                    db.execute(
                        f"UPDATE {RECORDS} SET name = {db.mark} WHERE version = {db.mark}", (step.name, step.version)
                    )
            current = _version(db)
            if current > latest:
                raise StoreVersionError(
                    f"{db.where} has schema version {current}, but this StepCache only knows versions up to "
                    f"{latest}: it was written by a newer StepCache. Upgrade StepCache (pip install -U stepcache), "
                    f"or {db.elsewhere()}."
                )
            pending = [step for step in migrations if step.version > current]
            if not pending:
                return current
            step = pending[0]
            db.script(step.sql)
            db.execute(
                f"INSERT INTO {RECORDS} (version, name, applied_at) VALUES ({db.mark}, {db.mark}, {db.mark})",
                (step.version, step.name, time.time()),
            )


def _version(db: Database) -> int:
    rows = db.execute(f"SELECT coalesce(max(version), 0) FROM {RECORDS}")
    return int(rows[0][0])
