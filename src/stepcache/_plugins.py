"""Discovery of task families and stores.

Built-in and third-party extensions register the same way: an entry point in the
``stepcache.families`` (or ``stepcache.stores``) group. A family entry point names either a
:class:`Family` subclass (instantiated with no arguments) or a ``register()`` callable returning one
family or a list of them::

    [project.entry-points."stepcache.families"]
    sql = "my_package.sql_family:register"
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from ._exceptions import ConfigurationError
from .families import Family

__all__ = ["load_families", "FAMILY_GROUP", "STORE_GROUP"]

FAMILY_GROUP = "stepcache.families"
STORE_GROUP = "stepcache.stores"

log = logging.getLogger("stepcache")


def load_families() -> list[Family[Any]]:
    """Every installed family, in detection order (ascending ``priority``)."""
    families: dict[str, Family[Any]] = {}
    for ep in entry_points(group=FAMILY_GROUP):
        try:
            target = ep.load()
        except Exception as exc:  # a broken plugin must not take the cache down
            log.warning("skipping task family %r: cannot load %s (%s)", ep.name, ep.value, exc)
            continue
        for family in _instantiate(ep.name, target):
            if family.name in families:
                raise ConfigurationError(
                    f"two installed task families are named {family.name!r}; uninstall one of them"
                )
            families[family.name] = family
    return sorted(families.values(), key=lambda f: f.priority)


def _instantiate(name: str, target: object) -> Iterable[Family[Any]]:
    if isinstance(target, type) and issubclass(target, Family):
        return [target()]
    if callable(target):
        made = target()
        if isinstance(made, Family):
            return [made]
        if isinstance(made, Iterable):
            items = list(made)
            if all(isinstance(f, Family) for f in items):
                return items
    raise ConfigurationError(
        f"entry point {name!r} in {FAMILY_GROUP} must name a Family subclass or a register() "
        "function returning Family instances"
    )
