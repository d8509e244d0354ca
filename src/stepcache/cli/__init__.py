"""The ``stepcache`` command line: one argparse tree. Errors become exit codes here and only here.

Every command registers itself the same way, with a ``register(subparsers)`` function that adds its
subparser: the built-in ones (``run``, ``stats``, ``entries``, ``export``, ``import``, ``purge``,
``serve``, ``keys``) and those of installed packages, found in the ``stepcache.commands`` entry-point
group (``stepcache demo`` and ``stepcache bench`` come from ``stepcache_bench`` this way)::

    [project.entry-points."stepcache.commands"]
    mytool = "my_package.cli:register"

A command sets ``handler=`` (``args -> exit code``) in its parser's defaults (the handler finds the
words after ``stepcache`` in ``args.command_line``, to record what was run), and takes the shared
options from here (:func:`add_backend_options`, :func:`add_store_option`) so that a flag means the
same in every command. Settings read from the environment are listed in :data:`ENVIRONMENT`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from .._exceptions import StepCacheError
from . import _commands, _serve
from ._options import ENVIRONMENT, add_backend_options, add_store_option, backend_from_args, env_default
from ._serve import build_cache

__all__ = [
    "COMMAND_GROUP",
    "ENVIRONMENT",
    "main",
    "build_parser",
    "add_backend_options",
    "add_store_option",
    "backend_from_args",
    "build_cache",
    "env_default",
]

#: The entry-point group of commands from other packages: each names a ``register(subparsers)``.
COMMAND_GROUP = "stepcache.commands"
#: Success and a command line that could not be parsed; errors exit with their own ``exit_code``.
EXIT_OK, EXIT_USAGE = 0, 2

log = logging.getLogger("stepcache")


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(words)
    args.command_line = words
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.handler(args)
        return code
    except StepCacheError as exc:
        print(f"stepcache: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree: the built-in commands, then every installed plugin's."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="stepcache",
        description="Step-level reuse for LLM serving: adapt, verify and patch cached answers.",
        epilog=_environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stepcache {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in (_commands.register, _serve.register):
        register(sub)
    for ep in entry_points(group=COMMAND_GROUP):
        try:
            ep.load()(sub)
        except Exception as exc:  # a broken plugin must not take the other commands down
            log.warning("skipping the commands of %r: %s failed (%s: %s)", ep.name, ep.value, type(exc).__name__, exc)
    return parser


def _environment_help() -> str:
    width = max(map(len, ENVIRONMENT))
    lines = ["environment (a flag given on the command line wins):"]
    lines += [
        f"  {name:<{width}}  {what}" + (f" ({flag})" if flag else "") for name, (what, flag) in ENVIRONMENT.items()
    ]
    return "\n".join(lines)
