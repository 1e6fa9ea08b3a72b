"""`natsync micro ls|info|stats|ping`: discover services of the NATS Services API (ADR-32)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, List

from .common import CliError, positive_duration
from .output import human, when
from .tree import command, group

if TYPE_CHECKING:
    from ..micro import Client as MicroClient
    from .connection import Session
    from .tree import Subparsers

EPILOG = """\
Answers are collected for --wait (default 1s), or until none came for a quarter of a
second after the last one. Services written with natsync.micro, nats.go, nats-py and
other ADR-32 implementations all answer.

examples:
  natsync micro ls
  natsync micro info echo
  natsync micro stats echo --json
  natsync micro ping"""

STALL = 0.25


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `micro` and its sub-commands."""

    p = command(sub, "micro", common, "discover and inspect services", aliases=["svc"],
                epilog=EPILOG, description="Find running service instances and ask them "
                                           "for their info and statistics.")
    cmds = group(p, "micro_command")
    c = command(cmds, "ls", common, "list the running services", run_ls, aliases=["list"],
                epilog=EPILOG)
    _wait_flag(c)
    for verb, text, handler in (("info", "show the endpoints of a service's instances", run_info),
                                ("stats", "show the statistics of a service's instances",
                                 run_stats)):
        c = command(cmds, verb, common, text, handler, epilog=EPILOG)
        c.add_argument("name", metavar="SERVICE", help="the service's name")
        c.add_argument("id", metavar="ID", nargs="?", help="only this instance")
        _wait_flag(c)
    c = command(cmds, "ping", common, "ping service instances", run_ping, epilog=EPILOG)
    c.add_argument("name", metavar="SERVICE", nargs="?", help="only this service")
    c.add_argument("id", metavar="ID", nargs="?", help="only this instance")
    _wait_flag(c)


def _wait_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", type=positive_duration, default=1.0, metavar="DURATION",
                        help="how long to collect answers (default 1s)")


def _client(session: Session) -> MicroClient:
    from ..micro import Client

    return Client(session.nc())


def _to_print(session: Session, found: List[Any], what: str) -> bool:
    """True when `found` is left to print as text; False once shown as JSON.

    Raises CliError when no `what` answered (with --json, prints an empty list instead).
    """
    if session.out.json_mode:
        session.out.json(found)
        return False
    if not found:
        raise CliError(f"no {what} answered within {session.args.wait:g}s")
    return True


def run_ls(session: Session) -> int:
    """List every service instance."""
    out = session.out
    found = sorted(_client(session).info(timeout=session.args.wait, stall=STALL),
                   key=lambda i: (i.name, i.version, i.id))
    if out.json_mode:
        out.json(found)
        return 0
    if not found:
        out.line("No services found")
        return 0
    out.table(["Name", "Version", "ID", "Endpoints", "Description"],
              [[i.name, i.version, i.id, len(i.endpoints), i.description] for i in found])
    return 0


def run_info(session: Session) -> int:
    """Describe the instances of one service."""
    args = session.args
    out = session.out
    found = sorted(_client(session).info(args.name, args.id, timeout=args.wait, stall=STALL),
                   key=lambda i: i.id)
    if not _to_print(session, found, f"instance of service {args.name!r}"):
        return 0
    for n, i in enumerate(found):
        if n:
            out.line()
        out.line(f"Service {i.name} {i.version} (instance {i.id})"
                 + (f": {i.description}" if i.description else ""))
        if i.metadata:
            out.fields([("Metadata", i.metadata)], indent=2)
        out.line()
        out.table(["Endpoint", "Subject", "Queue group", "Metadata"],
                  [[e.name, e.subject, e.queue_group, e.metadata or {}] for e in i.endpoints])
    return 0


def run_stats(session: Session) -> int:
    """Show the statistics of the instances of one service."""
    args = session.args
    out = session.out
    found = sorted(_client(session).stats(args.name, args.id, timeout=args.wait, stall=STALL),
                   key=lambda s: s.id)
    if not _to_print(session, found, f"instance of service {args.name!r}"):
        return 0
    for n, s in enumerate(found):
        if n:
            out.line()
        out.line(f"Service {s.name} {s.version} (instance {s.id}), started {when(s.started)}")
        out.line()
        rows: List[List[Any]] = []
        for e in s.endpoints:
            rows.append([e.name, e.subject, f"{e.num_requests:,}", f"{e.num_errors:,}",
                         f"{e.average_processing_time / 1e6:.3f}ms", e.last_error])
        out.table(["Endpoint", "Subject", "Requests", "Errors", "Average time", "Last error"],
                  rows)
    return 0


def run_ping(session: Session) -> int:
    """Ping service instances."""
    args = session.args
    out = session.out
    found = sorted(_client(session).ping(args.name, args.id, timeout=args.wait, stall=STALL),
                   key=lambda p: (p.name, p.id))
    what = "service" if args.name is None else f"instance of service {args.name!r}"
    if not _to_print(session, found, what):
        return 0
    out.table(["Name", "Version", "ID", "Metadata"],
              [[p.name, p.version, p.id, human(p.metadata)] for p in found])
    return 0
