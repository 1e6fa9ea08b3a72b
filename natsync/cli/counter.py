"""`natsync counter incr|get`: distributed counters (ADR-49) on allow_msg_counter streams."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .tree import command, group

if TYPE_CHECKING:
    from .connection import Session
    from .tree import Subparsers


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `counter` and its sub-commands."""

    p = command(sub, "counter", common, "increment and read distributed counters",
                description="Increment and read counters kept by streams with "
                            "allow_msg_counter (nats-server 2.12+).")
    cmds = group(p, "counter_command")

    c = command(cmds, "incr", common, "add to a counter and print its new total", run_incr,
                epilog="examples:\n  natsync counter incr hits.home\n"
                       "  natsync counter incr hits.home -- -3")
    c.add_argument("subject", metavar="SUBJECT", help="the counter's subject")
    c.add_argument("by", metavar="BY", type=int, nargs="?", default=1,
                   help="the increment, negative to decrease (default 1)")

    c = command(cmds, "get", common, "print counters' totals", run_get)
    c.add_argument("stream", metavar="STREAM", help="the stream keeping the counters")
    c.add_argument("subjects", metavar="SUBJECT", nargs="+",
                   help="counter subjects; wildcards stand for every stored match")


def run_incr(session: Session) -> int:
    """Increment one counter."""
    args = session.args
    total = session.js().counter_incr(args.subject, args.by)
    if session.out.json_mode:
        session.out.json({"subject": args.subject, "value": str(total)})
    else:
        session.out.line(str(total))
    return 0


def run_get(session: Session) -> int:
    """Print the totals of counters."""
    args = session.args
    totals = session.js().counter_get_many(args.stream, args.subjects)
    if session.out.json_mode:
        session.out.json({subject: str(value) for subject, value in totals.items()})
    elif len(args.subjects) == 1 and list(totals) == args.subjects:
        session.out.line(str(totals[args.subjects[0]]))
    else:
        session.out.table(["Subject", "Value"], [(s, str(v)) for s, v in totals.items()])
    return 0
