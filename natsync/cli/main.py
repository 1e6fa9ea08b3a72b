"""The `natsync` command: the argparse tree, dispatch, exit codes and signal handling."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any, Iterator, Optional, Sequence

from .. import errors
from ..version import __version__
from .common import CliError, UsageError
from .connection import Session, add_common_flags
from .output import Output
from .tree import Formatter, Terminated

PROG = "natsync"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143

DESCRIPTION = """\
A NATS command line built on natsync: publish, subscribe and request; manage JetStream
streams, consumers, Key-Value and Object Store buckets; discover services; and run a
local nats-server with JetStream (`natsync server`).

Every command takes the connection options below, before or after its name.
Exit status: 0 success, 1 a NATS or file error (the message is on stderr),
2 a usage error, 130 interrupted by Ctrl-C."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    from . import consumer, counter, kv, micro, obj, pub, req, schedule, server, stream, sub

    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                     formatter_class=Formatter, allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"natsync {__version__}")
    add_common_flags(parser, top_level=True)
    common = argparse.ArgumentParser(add_help=False)
    add_common_flags(common, top_level=False)
    verbs = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND",
                                  required=True)
    for module in (pub, sub, req, server, stream, consumer, kv, obj, micro, counter, schedule):
        module.register(verbs, common)
    for _, cmd in walk(parser):
        cmd.usage = usage(cmd)
    return parser


def walk(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command of the tree, depth first, as (`natsync stream add`, its parser); no aliases."""
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                yield from walk(action.choices[choice.dest])


def usage(parser: argparse.ArgumentParser) -> str:
    """`natsync stream add [options] STREAM`: the options in short, then the positionals."""
    words = [parser.prog, "[options]"]
    for action in parser._actions:
        if action.option_strings:
            continue
        if isinstance(action, argparse._SubParsersAction):
            names = "|".join(c.dest for c in action._choices_actions)
            words.append("COMMAND ..." if action.required else f"[{names}]")
            continue
        name = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        if action.nargs == "?":
            words.append(f"[{name}]")
        elif action.nargs == "*":
            words.append(f"[{name} ...]")
        elif action.nargs == "+":
            words.append(f"{name} [{name} ...]")
        else:
            words.append(name)
    return " ".join(words)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command line; return the exit status."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Terminated:
        return EXIT_TERMINATED


def _run(argv: Optional[Sequence[str]]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    session = Session(args, Output(json_mode=bool(args.json)))
    name: str = args.parser.prog
    previous = _on_sigterm()
    ok = False
    try:
        code: int = args.func(session)
        ok = True
        return code
    except UsageError as exc:
        args.parser.print_usage(sys.stderr)
        sys.stderr.write(f"{name}: error: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (errors.Error, CliError, OSError, ValueError) as exc:
        sys.stderr.write(f"{name}: {describe(exc)}\n")
        sys.stderr.flush()
        return EXIT_ERROR
    finally:
        try:
            if ok:
                session.finish()
            else:
                session.close()
        finally:
            _restore_sigterm(previous)


def describe(exc: BaseException) -> str:
    """A one-line message for an error, without a traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc) or type(exc).__name__
    return " ".join(text.split()) if "\n" not in text.strip() else text.strip()


def _on_sigterm() -> Any:
    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # not the main thread, or no SIGTERM here
        return None


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        try:
            signal.signal(signal.SIGTERM, previous)
        except (ValueError, OSError):
            pass


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so exiting does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
