"""`natsync schedule add|cancel`: message schedules (ADR-51), a cron kept by the stream."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .common import body
from .tree import command, group

if TYPE_CHECKING:
    from .connection import Session
    from .tree import Subparsers

ADD_EPILOG = """\
SCHEDULE is "@at 2030-01-01T09:00:00Z" (once), "@every 5m" (at least 1s), @hourly,
@daily, @weekly, @monthly, @yearly, or 6-field cron with seconds first ("0 30 9 * * mon-fri").
The stream must have allow_msg_schedules and hold both SUBJECT and TARGET.

examples:
  natsync schedule add sched.cleanup jobs.cleanup "@every 1h" '{"older_than":"7d"}'
  natsync schedule add sched.report jobs.report "0 0 9 * * mon" --time-zone Europe/Paris"""


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `schedule` and its sub-commands."""

    p = command(sub, "schedule", common, "add and cancel message schedules",
                description="Store messages that the stream publishes on a schedule "
                            "(nats-server 2.12+).")
    cmds = group(p, "schedule_command")

    c = command(cmds, "add", common, "store (or replace) a schedule", run_add,
                epilog=ADD_EPILOG)
    c.add_argument("subject", metavar="SUBJECT", help="the schedule's own subject")
    c.add_argument("target", metavar="TARGET", help="where the scheduled message is published")
    c.add_argument("schedule", metavar="SCHEDULE", help="when: @at, @every, @hourly... or cron")
    c.add_argument("data", metavar="DATA", nargs="?",
                   help="the message to publish (default: stdin when it is not a terminal)")
    c.add_argument("--ttl", metavar="TTL", help="a TTL for each published message, e.g. 5m")
    c.add_argument("--time-zone", metavar="ZONE", help="time zone of a cron schedule")
    c.add_argument("--source", metavar="SUBJECT",
                   help="publish the last message of this subject instead of DATA")

    c = command(cmds, "cancel", common, "stop a schedule (purges its subject)", run_cancel)
    c.add_argument("subject", metavar="SUBJECT", help="the schedule's subject")
    c.add_argument("--stream", metavar="STREAM", help="the stream (default: found by subject)")


def run_add(session: Session) -> int:
    """Store a schedule."""
    args = session.args
    ack = session.js().publish_schedule(args.subject, body(args.data), target=args.target,
                                      schedule=args.schedule, ttl=args.ttl,
                                      time_zone=args.time_zone, source=args.source)
    if session.out.json_mode:
        session.out.json({"stream": ack.stream, "seq": ack.seq, "subject": args.subject})
    else:
        session.out.line(f"Scheduled {args.subject} -> {args.target} ({args.schedule}) "
                         f"in stream {ack.stream} at seq {ack.seq}")
    return 0


def run_cancel(session: Session) -> int:
    """Stop a schedule."""
    args = session.args
    session.js().cancel_schedule(args.subject, args.stream)
    if session.out.json_mode:
        session.out.json({"subject": args.subject, "cancelled": True})
    else:
        session.out.line(f"Cancelled schedule {args.subject}")
    return 0
