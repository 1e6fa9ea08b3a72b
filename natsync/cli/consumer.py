"""`natsync consumer ls|info|add|rm|next|unpin|reset`: JetStream consumers."""

from __future__ import annotations

import argparse
import os
import subprocess
from typing import TYPE_CHECKING, Any

from .common import (
    CliError,
    add_body_shape,
    choice,
    confirm,
    duration,
    positive_duration,
    positive_int,
)
from .output import Output, count, human, message_json, show_message, when
from .output import duration as show_duration
from .tree import command, group

if TYPE_CHECKING:
    from ..js import api
    from ..msg import Msg
    from .connection import Session
    from .tree import Subparsers

#: Choices on the command line: the server's values, with - for _ (natsync.js.api enums).
ACK = ("explicit", "none", "all", "flow-control")
DELIVER = ("all", "last", "new", "last-per-subject")
REPLAY = ("instant", "original")
PRIORITY = ("overflow", "pinned-client", "prioritized")

ADD_EPILOG = """\
Without --deliver-subject the consumer is a pull consumer (for `consumer next`,
fetch and the simplified consumer API); with it, a push consumer.

examples:
  natsync consumer add ORDERS billing --filter 'orders.eu.>' --ack-wait 1m
  natsync consumer add WORK workers --max-deliver 5
  natsync consumer add WORK pinned --priority-group jobs --priority-policy pinned-client
  natsync consumer add WORK mirror --ack flow-control --deliver-subject mirror.work"""

NEXT_EPILOG = """\
Each message is printed (like `sub`; JSON Lines with --json) and then acknowledged,
unless --no-ack. With --exec, COMMAND runs once per message (through the shell) with
the body on its stdin and NATS_SUBJECT, NATS_STREAM, NATS_CONSUMER, NATS_STREAM_SEQ and
NATS_DELIVERED in its environment; the message is acknowledged when COMMAND exits 0 and
negatively acknowledged (redelivered later) otherwise, which stops natsync with
status 1. No message within --wait is not an error: natsync exits 0.

examples:
  natsync consumer next WORK workers                 # one message, acked
  natsync consumer next WORK workers --count 100 --wait 1s --raw
  natsync consumer next WORK workers --count 50 --exec './handle-job.sh'
  natsync consumer next WORK pinned --group jobs     # a priority group's pull"""

RESET_EPILOG = """\
The consumer delivers again from stream sequence SEQ (nats-server 2.14+); without
--seq, from just after its acknowledged floor, which redelivers what is unacknowledged.

examples:
  natsync consumer reset ORDERS billing --seq 1000
  natsync consumer unpin WORK pinned jobs            # let another worker take over"""


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `consumer` and its sub-commands."""

    p = command(sub, "consumer", common, "manage JetStream consumers", aliases=["con"],
                description="Create, inspect and delete consumers; take messages from them.")
    cmds = group(p, "consumer_command")

    c = command(cmds, "ls", common, "list the consumers of a stream", run_ls, aliases=["list"])
    c.add_argument("stream", metavar="STREAM", help="the stream's name")
    c.add_argument("-n", "--names", action="store_true", help="print only the names")

    c = command(cmds, "info", common, "show a consumer's configuration and state", run_info)
    c.add_argument("stream", metavar="STREAM", help="the stream's name")
    c.add_argument("name", metavar="CONSUMER", help="the consumer's name")

    c = command(cmds, "add", common, "create a durable consumer", run_add, epilog=ADD_EPILOG,
                aliases=["create"])
    c.add_argument("stream", metavar="STREAM", help="the stream's name")
    c.add_argument("name", metavar="CONSUMER", help="its durable name")
    c.add_argument("--filter", metavar="SUBJECT", action="append",
                   help="only messages of SUBJECT (repeatable)")
    c.add_argument("--description", metavar="TEXT", help="a description")
    c.add_argument("--ack", type=choice(ACK), default="explicit", metavar="POLICY",
                   help="explicit (default), none, all, or flow-control (push only, acked "
                        "by its flow-control answers; nats-server 2.14+)")
    c.add_argument("--deliver", type=choice(DELIVER), metavar="POLICY",
                   help="where to start: all (default), last, new or last-per-subject")
    c.add_argument("--start-seq", type=positive_int, metavar="SEQ",
                   help="start at stream sequence SEQ")
    c.add_argument("--ack-wait", type=positive_duration, metavar="DURATION",
                   help="redeliver when not acknowledged within DURATION (default 30s)")
    c.add_argument("--max-deliver", type=int, metavar="N", help="give up after N deliveries")
    c.add_argument("--max-ack-pending", type=int, metavar="N",
                   help="at most N messages out unacknowledged")
    c.add_argument("--replay", type=choice(REPLAY), metavar="POLICY",
                   help="instant (default) or original")
    c.add_argument("--inactive-threshold", type=duration, metavar="DURATION",
                   help="delete the consumer after DURATION without clients")
    c.add_argument("--deliver-subject", metavar="SUBJECT",
                   help="make it a push consumer delivering to SUBJECT")
    c.add_argument("--deliver-group", metavar="GROUP", help="push: the queue group")
    c.add_argument("--priority-group", metavar="GROUP", action="append",
                   help="pull: a priority group (repeatable; ADR-42)")
    c.add_argument("--priority-policy", type=choice(PRIORITY), metavar="POLICY",
                   help="overflow, pinned-client or prioritized")
    c.add_argument("--priority-timeout", type=positive_duration, metavar="DURATION",
                   help="pinned-client: unpin after DURATION without pulls")

    c = command(cmds, "rm", common, "delete a consumer", run_rm, aliases=["delete"])
    c.add_argument("stream", metavar="STREAM", help="the stream's name")
    c.add_argument("name", metavar="CONSUMER", help="the consumer's name")
    c.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")

    c = command(cmds, "next", common, "take the next message(s) from a pull consumer", run_next,
                epilog=NEXT_EPILOG)
    c.add_argument("stream", metavar="STREAM", help="the stream's name")
    c.add_argument("name", metavar="CONSUMER", help="the consumer's name")
    c.add_argument("-c", "--count", type=positive_int, default=1, metavar="N",
                   help="take up to N messages (default 1)")
    c.add_argument("--wait", type=positive_duration, metavar="DURATION",
                   help="how long to wait for each message (default: --timeout)")
    c.add_argument("--no-ack", action="store_true",
                   help="do not acknowledge (the server redelivers after its ack wait)")
    c.add_argument("--exec", metavar="COMMAND", dest="exec_command",
                   help="run COMMAND per message, body on stdin; ack on success")
    c.add_argument("--group", metavar="GROUP", help="pull for this priority group")
    add_body_shape(c)

    c = command(cmds, "unpin", common, "release the pinned client of a priority group",
                run_unpin, epilog=RESET_EPILOG)
    c.add_argument("stream", metavar="STREAM", help="the stream's name")
    c.add_argument("name", metavar="CONSUMER", help="the consumer's name")
    c.add_argument("group", metavar="GROUP", help="the priority group")

    c = command(cmds, "reset", common, "make a consumer deliver again from a sequence",
                run_reset, epilog=RESET_EPILOG)
    c.add_argument("stream", metavar="STREAM", help="the stream's name")
    c.add_argument("name", metavar="CONSUMER", help="the consumer's name")
    c.add_argument("--seq", type=positive_int, metavar="SEQ",
                   help="the stream sequence to deliver from (default: after the ack floor)")


# --- ls / info -------------------------------------------------------------------------------------


def run_ls(session: Session) -> int:
    """List a stream's consumers."""
    args = session.args
    out = session.out
    js = session.js()
    if args.names:
        names = sorted(js.consumer_names(args.stream))
        out.names(names)
        return 0
    infos = sorted(js.consumers_info(args.stream), key=lambda i: i.name)
    if out.json_mode:
        out.json([i.as_dict() for i in infos])
        return 0
    if not infos:
        out.line(f"No consumers on stream {args.stream}")
        return 0
    out.table(["Name", "Filter", "Pending", "Ack pending", "Redelivered", "Last delivery"],
              [[i.name, _filters(i.config), count(i.num_pending), count(i.num_ack_pending),
                count(i.num_redelivered), when(i.delivered.last_active)] for i in infos])
    return 0


def _filters(c: api.ConsumerConfig) -> str:
    return human(c.filter_subjects or ([c.filter_subject] if c.filter_subject else []))


def run_info(session: Session) -> int:
    """Show one consumer."""
    args = session.args
    show_info(session.out, session.js().consumer_info(args.stream, args.name))
    return 0


def show_info(out: Output, info: api.ConsumerInfo) -> None:
    """A consumer's configuration and state, for people or as the server's JSON."""
    if out.json_mode:
        out.json(info.as_dict())
        return
    c = info.config
    kind = "push" if c.deliver_subject else "pull"
    out.line(f"Consumer {info.stream_name} > {info.name} ({kind})"
             + (f": {c.description}" if c.description else ""))
    out.line()
    out.line("Configuration:")
    out.fields([
        ("Durable name", c.durable_name),
        ("Filter", _filters(c) or None),
        ("Deliver policy", human(c.deliver_policy)),
        ("Start sequence", c.opt_start_seq),
        ("Ack policy", human(c.ack_policy)),
        ("Ack wait", show_duration(c.ack_wait) if c.ack_wait else None),
        ("Maximum deliveries", count(c.max_deliver) if c.max_deliver else None),
        ("Maximum ack pending", count(c.max_ack_pending) if c.max_ack_pending else None),
        ("Replay policy", human(c.replay_policy)),
        ("Inactive threshold", show_duration(c.inactive_threshold)
         if c.inactive_threshold else None),
        ("Deliver subject", c.deliver_subject),
        ("Deliver group", c.deliver_group),
        ("Priority groups", human(c.priority_groups) if c.priority_groups else None),
        ("Priority policy", human(c.priority_policy)),
        ("Priority timeout", show_duration(c.priority_timeout) if c.priority_timeout else None),
        ("Created", when(info.created)),
    ], indent=2)
    out.line()
    out.line("State:")
    out.fields([
        ("Last delivered", f"consumer seq {info.delivered.consumer_seq}, stream seq "
                           f"{info.delivered.stream_seq}"),
        ("Acknowledged", f"consumer seq {info.ack_floor.consumer_seq}, stream seq "
                         f"{info.ack_floor.stream_seq}"),
        ("Pending", count(info.num_pending)),
        ("Ack pending", count(info.num_ack_pending)),
        ("Redelivered", count(info.num_redelivered)),
        ("Waiting pulls", count(info.num_waiting)),
    ] + [(f"Pinned in {g.group}", g.pinned_client_id)
         for g in info.priority_groups or () if g.pinned_client_id], indent=2)


# --- add / rm -----------------------------------------------------------------------------------


def run_add(session: Session) -> int:
    """Create a durable consumer."""
    from ..js import api

    args = session.args
    params: dict[str, Any] = {"durable_name": args.name,
                              "ack_policy": api.AckPolicy(args.ack.replace("-", "_"))}
    filters = [f.strip() for arg in args.filter or () for f in arg.split(",") if f.strip()]
    if len(filters) == 1:
        params["filter_subject"] = filters[0]
    elif filters:
        params["filter_subjects"] = filters
    if args.start_seq:
        params["deliver_policy"] = api.DeliverPolicy.BY_START_SEQUENCE
        params["opt_start_seq"] = args.start_seq
    elif args.deliver:
        params["deliver_policy"] = api.DeliverPolicy(args.deliver.replace("-", "_"))
    for field, value in (
            ("description", args.description), ("ack_wait", args.ack_wait),
            ("max_deliver", args.max_deliver), ("max_ack_pending", args.max_ack_pending),
            ("replay_policy", api.ReplayPolicy(args.replay) if args.replay else None),
            ("inactive_threshold", args.inactive_threshold),
            ("deliver_subject", args.deliver_subject), ("deliver_group", args.deliver_group),
            ("priority_groups", args.priority_group),
            ("priority_policy", api.PriorityPolicy(args.priority_policy.replace("-", "_"))
             if args.priority_policy else None),
            ("priority_timeout", args.priority_timeout)):
        if value is not None:
            params[field] = value
    info = session.js().add_consumer(args.stream, **params)
    if not session.out.json_mode:
        session.out.line(f"Created consumer {info.stream_name} > {info.name}")
        session.out.line()
    show_info(session.out, info)
    return 0


def run_rm(session: Session) -> int:
    """Delete a consumer."""
    args = session.args
    js = session.js()
    js.consumer_info(args.stream, args.name)  # a missing consumer fails before the question
    if not confirm(f"Really delete consumer {args.stream} > {args.name}?", args.force):
        session.out.note("Not deleted")
        return 1
    js.delete_consumer(args.stream, args.name)
    if session.out.json_mode:
        session.out.json({"stream": args.stream, "consumer": args.name, "deleted": True})
    else:
        session.out.line(f"Deleted consumer {args.stream} > {args.name}")
    return 0


# --- next -----------------------------------------------------------------------------------------


def run_next(session: Session) -> int:
    """Fetch messages one at a time; print (or run --exec on) each, then acknowledge it."""
    from ..js import api
    from ..js.consumer import Consumer

    args = session.args
    out = session.out
    js = session.js()
    info = js.consumer_info(args.stream, args.name)
    if info.config.deliver_subject:
        raise CliError(f"consumer {args.stream} > {args.name} is a push consumer; "
                       "`consumer next` needs a pull consumer")
    acks = not args.no_ack and info.config.ack_policy != api.AckPolicy.NONE
    consumer = Consumer(js, args.stream, args.name, info.config)
    wait = args.wait or session.timeout
    taken = 0
    while taken < args.count:
        msgs = consumer.fetch(1, max_wait=wait, group=args.group)
        if not msgs:
            break
        msg = msgs[0]
        taken += 1
        if args.exec_command:
            _run_command(session, args.exec_command, msg, acks)
            continue
        _show(out, msg, taken, args)
        if acks:
            msg.ack_sync(timeout=session.timeout)
    if taken == 0 and not out.json_mode:
        out.note(f"No messages available from {args.stream} > {args.name}")
    return 0


def _show(out: Output, msg: Msg, n: int, args: argparse.Namespace) -> None:
    meta = msg.metadata
    if out.json_mode:
        out.json_line(message_json(msg.subject, msg.data, msg.headers, stream=meta.stream,
                                   consumer=meta.consumer, seq=meta.sequence.stream,
                                   delivered=meta.num_delivered, pending=meta.num_pending,
                                   time=meta.timestamp))
        return
    times = "time" if meta.num_delivered == 1 else "times"
    title = (f"[#{n}] Received on {msg.subject!r} (stream seq {meta.sequence.stream}, "
             f"delivered {meta.num_delivered} {times}, {meta.num_pending} pending)")
    show_message(out, title, msg.data, msg.headers, args.headers, args.raw)


def _run_command(session: Session, command: str, msg: Msg, acks: bool) -> None:
    """Run `command` on one message; ack on success, nak and raise CliError on failure."""
    meta = msg.metadata
    env = dict(os.environ, NATS_SUBJECT=msg.subject, NATS_STREAM=meta.stream,
               NATS_CONSUMER=meta.consumer, NATS_STREAM_SEQ=str(meta.sequence.stream),
               NATS_DELIVERED=str(meta.num_delivered))
    try:
        status = subprocess.run(command, shell=True, input=msg.data, env=env).returncode
    except BaseException:
        _nak(session, msg, acks)
        raise
    if status == 0:
        if acks:
            msg.ack_sync(timeout=session.timeout)
        return
    _nak(session, msg, acks)
    raise CliError(f"{command!r} exited with status {status} on stream seq "
                   f"{meta.sequence.stream}" + ("; message nak'd for redelivery" if acks else ""))


def _nak(session: Session, msg: Msg, acks: bool) -> None:
    """Ask for redelivery now, and make sure the server got it before natsync exits."""
    if not acks:
        return
    msg.nak()
    session.nc().flush(timeout=session.timeout)


# --- unpin / reset --------------------------------------------------------------------------------


def run_unpin(session: Session) -> int:
    """Release a pinned_client consumer's pin on one group."""
    args = session.args
    session.js().unpin_consumer(args.stream, args.name, args.group)
    if session.out.json_mode:
        session.out.json({"stream": args.stream, "consumer": args.name, "group": args.group,
                          "unpinned": True})
    else:
        session.out.line(f"Unpinned group {args.group} of consumer {args.stream} > {args.name}")
    return 0


def run_reset(session: Session) -> int:
    """Move a consumer to deliver from a stream sequence (or after its ack floor)."""
    args = session.args
    info = session.js().reset_consumer(args.stream, args.name, seq=args.seq)
    if not session.out.json_mode:
        session.out.line(f"Reset consumer {args.stream} > {args.name} to stream sequence "
                         f"{info.reset_seq}")
        session.out.line()
    show_info(session.out, info)
    return 0
