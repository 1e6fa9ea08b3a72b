"""Building blocks of the command tree, shared by main.py and every subcommand module.

Each subcommand module defines `register(verbs, common)` and builds its commands with
`command()`/`group()` from here, so no subcommand imports main.py (main imports them).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Callable, Optional, Sequence

if TYPE_CHECKING:
    from .connection import Session

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
    Handler = Callable[[Session], int]


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C (closing connections and servers) and exit 143."""


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Help text with the description and epilog kept as written."""


def command(sub: Subparsers, name: str, common: argparse.ArgumentParser, help: str,
            handler: Optional[Handler] = None, description: Optional[str] = None,
            epilog: Optional[str] = None, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
    """Add one command (or command group, without a handler) with the shared flags."""
    text = description or f"{help[0].upper()}{help[1:]}."
    parser = sub.add_parser(name, help=help, description=text, epilog=epilog,
                            parents=[common], formatter_class=Formatter, aliases=list(aliases),
                            allow_abbrev=False)
    if handler is not None:
        parser.set_defaults(func=handler, parser=parser)
    return parser


def group(parser: argparse.ArgumentParser, dest: str) -> Subparsers:
    """The sub-commands of a command group (one of them is required)."""
    return parser.add_subparsers(title="commands", dest=dest, metavar="COMMAND", required=True)
