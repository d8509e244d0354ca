"""The bench's commands as users run them: through ``stepcache``'s one command tree. A usage error
(argparse's exit) and an error the command raises both come back as the exit status, 2."""

from __future__ import annotations

import argparse

from stepcache.cli import build_parser, main


def stepcache(*argv: str) -> int:
    try:
        return main(list(argv))
    except SystemExit as exit_:  # argparse refused the command line
        return exit_.code if isinstance(exit_.code, int) else 2


def bench(argv: list[str]) -> int:
    return stepcache("bench", *argv)


def demo(argv: list[str]) -> int:
    return stepcache("demo", *argv)


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))
