"""The options several commands share, each with one meaning, one name and one environment variable.

Plugin commands (``stepcache demo``, ``stepcache bench``) add the same options with the same helpers,
so ``--model`` is the upstream model's name and ``--model-path`` the GGUF file in every command.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..backends import Backend

__all__ = [
    "ENVIRONMENT",
    "add_backend_options",
    "add_store_option",
    "backend_from_args",
    "env_default",
    "duration",
    "positive_count",
    "byte_size",
]

#: Every environment variable the command line reads: the setting it gives and the flag it stands for
#: (``None``: no flag, e.g. the API key, which a command line would show to ``ps`` and shell history).
ENVIRONMENT: dict[str, tuple[str, str | None]] = {
    "STEPCACHE_UPSTREAM": ("OpenAI-compatible base URL of the model", "--upstream"),
    "STEPCACHE_UPSTREAM_MODEL": ("model name sent upstream", "--model"),
    "STEPCACHE_UPSTREAM_API_KEY": ("API key sent upstream (Authorization: Bearer)", None),
    "STEPCACHE_MODEL_PATH": ("GGUF file of the embedded model", "--model-path"),
    "STEPCACHE_THREADS": ("CPU threads of the embedded model", "--threads"),
    "STEPCACHE_STORE": ("cache store URL", "--store"),
    "STEPCACHE_AUDIT_RATE": ("serve: share of reused answers audited", "--audit-rate"),
    "STEPCACHE_API_KEYS": ("serve: the client API-keys file", "--api-keys"),
    "STEPCACHE_PASS_THROUGH_KEYS": ("serve: 1 to forward clients' keys upstream", "--pass-through-keys"),
    "STEPCACHE_MAX_ENTRIES": ("serve: size cap in entries", "--max-entries"),
    "STEPCACHE_MAX_BYTES": ("serve: size cap in bytes", "--max-bytes"),
    "STEPCACHE_TTL": ("serve: how long an entry is served", "--ttl"),
}


def env_default(name: str, default: str | None = None) -> str | None:
    """The flag's default: environment variable ``name`` (one of :data:`ENVIRONMENT`), else ``default``."""
    if name not in ENVIRONMENT:
        raise KeyError(f"{name} is not a documented setting; add it to stepcache.cli.ENVIRONMENT")
    return os.environ.get(name, default)


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """``--upstream``, ``--model``, ``--model-path``, ``--threads``: the model a command calls.
    :func:`backend_from_args` opens it (the API key comes from ``STEPCACHE_UPSTREAM_API_KEY``)."""
    group = parser.add_argument_group(
        "model",
        "an OpenAI-compatible upstream, or the embedded model when none is given; the upstream's "
        "API key is read from STEPCACHE_UPSTREAM_API_KEY",
    )
    group.add_argument(
        "--upstream",
        metavar="URL",
        default=env_default("STEPCACHE_UPSTREAM"),
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (env STEPCACHE_UPSTREAM; "
        "default: the embedded local model)",
    )
    group.add_argument(
        "--model",
        metavar="NAME",
        default=env_default("STEPCACHE_UPSTREAM_MODEL"),
        help="model name sent upstream (env STEPCACHE_UPSTREAM_MODEL; default: the upstream's first model)",
    )
    group.add_argument(
        "--model-path",
        metavar="FILE",
        default=env_default("STEPCACHE_MODEL_PATH"),
        help="a GGUF file for the embedded model (env STEPCACHE_MODEL_PATH; default: the bundled one)",
    )
    group.add_argument(
        "--threads",
        metavar="N",
        type=int,
        default=env_default("STEPCACHE_THREADS"),
        help="CPU threads for the embedded model (env STEPCACHE_THREADS; default: all)",
    )


def backend_from_args(args: argparse.Namespace) -> Backend:
    """The upstream named by :func:`add_backend_options`' flags, or the embedded model when none is."""
    from ..backends._open import open_backend

    return open_backend(
        args.upstream,
        model=args.model,
        api_key=env_default("STEPCACHE_UPSTREAM_API_KEY"),
        model_path=args.model_path,
        threads=args.threads,
    )


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store URL`` (env ``STEPCACHE_STORE``), opened with :func:`stepcache.open_store`."""
    parser.add_argument(
        "--store",
        metavar="URL",
        default=env_default("STEPCACHE_STORE"),
        help="sqlite:///path/cache.db (default: under the user cache dir), memory:// or postgresql://... "
        "(env STEPCACHE_STORE)",
    )


# -- values ------------------------------------------------------------------------------------------


def duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s`` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    value, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = float(value) * units[unit]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write 30d, 12h, 90m or seconds") from exc
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: an age cannot be negative")
    return seconds


def positive_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a whole number of entries, 1 or more, e.g. 100000 (serve also reads STEPCACHE_MAX_ENTRIES)"
        )
    return count


def byte_size(text: str) -> int:
    from ..store._lifecycle import parse_bytes

    try:
        size = parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (serve also reads STEPCACHE_MAX_BYTES)") from exc
    if size < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a size cap must be more than 0 bytes, e.g. 500M")
    return size
