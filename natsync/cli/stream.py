"""`natsync stream ls|info|add|rm|rmm|purge|view|get-batch`: JetStream streams."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .common import (
    CliError,
    UsageError,
    add_body_shape,
    choice,
    confirm,
    duration,
    non_negative_int,
    positive_int,
    size,
)
from .output import Output, count, human, message_json, show_message, when
from .output import duration as show_duration
from .output import size as show_size
from .tree import command, group

if TYPE_CHECKING:
    from ..js import api
    from .connection import Session
    from .tree import Subparsers

#: Choices on the command line; they are the server's values (enums of natsync.js.api).
STORAGE = ("file", "memory")
RETENTION = ("limits", "interest", "workqueue")
DISCARD = ("old", "new")

ADD_EPILOG = """\
Sizes take K, M, G (powers of 1024: 10M, 1GiB); durations s, m, h, d (90s, 1h30m, 7d).
--config reads a stream configuration as the server's JSON (as `nats stream info
--json` prints its "config"); the other flags override its fields.

examples:
  natsync stream add ORDERS --subjects 'orders.>' --max-age 7d --storage file
  natsync stream add WORK --subjects 'work.*' --retention workqueue --replicas 1"""

VIEW_EPILOG = """\
Messages are read with direct gets, oldest first; no consumer is created.

examples:
  natsync stream view ORDERS                      # the first 10 messages
  natsync stream view ORDERS --subject 'orders.eu.>' --start-seq 100 --count 50
  natsync stream view ORDERS --last 5 --json"""

BATCH_EPILOG = """\
One batch Direct Get (ADR-31) answers with many messages at once; the stream needs
allow_direct. With --last-for, the newest message of each subject matching SUBJECT
(repeatable, wildcards ok) is printed instead, as of --up-to-seq when given.

examples:
  natsync stream get-batch ORDERS --subject 'orders.eu.>' --start-seq 100 --count 500
  natsync stream get-batch CONFIG --last-for 'config.>' --json"""


#: Switches of the nats-server 2.11-2.14 publish features: flag, StreamConfig field, help.
FEATURE_FLAGS = (
    ("--allow-msg-ttl", "allow_msg_ttl", "allow per-message TTLs (2.11+)"),
    ("--allow-msg-counter", "allow_msg_counter", "keep distributed counters (2.12+)"),
    ("--allow-atomic", "allow_atomic", "allow atomic batch publish (2.12+)"),
    ("--allow-batched", "allow_batched", "allow fast batch publish (2.14+)"),
    ("--allow-msg-schedules", "allow_msg_schedules", "allow message schedules (2.12+)"),
)


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `stream` and its sub-commands."""

    p = command(sub, "stream", common, "manage JetStream streams", aliases=["str"],
                description="Create, inspect, purge, view and delete JetStream streams.")
    cmds = group(p, "stream_command")

    c = command(cmds, "ls", common, "list the streams", run_ls, aliases=["list"])
    c.add_argument("--subject", metavar="SUBJECT", help="only streams that store SUBJECT")
    c.add_argument("-n", "--names", action="store_true", help="print only the names")

    c = command(cmds, "info", common, "show a stream's configuration and state", run_info)
    c.add_argument("name", metavar="STREAM", help="the stream's name")

    c = command(cmds, "add", common, "create a stream", run_add, epilog=ADD_EPILOG,
                aliases=["create"])
    c.add_argument("name", metavar="STREAM", help="the stream's name")
    c.add_argument("--subjects", metavar="SUBJECT", action="append",
                   help="subjects to store, comma separated or repeated (default: STREAM)")
    c.add_argument("--description", metavar="TEXT", help="a description")
    c.add_argument("--storage", type=choice(STORAGE), metavar="TYPE",
                   help="file (default) or memory")
    c.add_argument("--retention", type=choice(RETENTION), metavar="POLICY",
                   help="limits (default), interest or workqueue")
    c.add_argument("--discard", type=choice(DISCARD), metavar="POLICY",
                   help="when full, discard old (default) or refuse new messages")
    c.add_argument("--max-msgs", type=int, metavar="N", help="most messages kept (-1: no limit)")
    c.add_argument("--max-bytes", type=size, metavar="SIZE", help="most bytes kept")
    c.add_argument("--max-age", type=duration, metavar="DURATION",
                   help="how long messages are kept (0: forever)")
    c.add_argument("--max-msg-size", type=size, metavar="SIZE", help="largest message accepted")
    c.add_argument("--max-msgs-per-subject", type=int, metavar="N",
                   help="messages kept per subject")
    c.add_argument("--dupe-window", type=duration, metavar="DURATION",
                   help="de-duplication window for Nats-Msg-Id (default 2m)")
    c.add_argument("--replicas", type=positive_int, metavar="N", help="copies in a cluster")
    c.add_argument("--allow-direct", action="store_true", help="allow direct gets")
    for flag, _, text in FEATURE_FLAGS:
        c.add_argument(flag, action="store_true", help=text)
    c.add_argument("--config", metavar="FILE", help="a stream configuration in JSON")

    c = command(cmds, "rm", common, "delete a stream and its messages", run_rm,
                aliases=["delete"])
    c.add_argument("name", metavar="STREAM", help="the stream's name")
    c.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")

    c = command(cmds, "purge", common, "remove messages from a stream", run_purge)
    c.add_argument("name", metavar="STREAM", help="the stream's name")
    c.add_argument("--subject", metavar="SUBJECT", help="only messages of SUBJECT")
    c.add_argument("--seq", type=positive_int, metavar="N", help="only messages before N")
    c.add_argument("--keep", type=non_negative_int, metavar="N", help="keep the newest N")
    c.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")

    c = command(cmds, "rmm", common, "delete one message from a stream", run_rmm)
    c.add_argument("name", metavar="STREAM", help="the stream's name")
    c.add_argument("seq", type=positive_int, metavar="SEQ", help="the message's sequence")
    c.add_argument("--no-erase", action="store_true",
                   help="only mark it deleted (quicker) instead of overwriting its data")
    c.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")

    c = command(cmds, "view", common, "print a stream's messages", run_view,
                epilog=VIEW_EPILOG)
    c.add_argument("name", metavar="STREAM", help="the stream's name")
    c.add_argument("--subject", metavar="SUBJECT", help="only messages of SUBJECT (wildcards ok)")
    c.add_argument("-c", "--count", type=positive_int, default=10, metavar="N",
                   help="print at most N messages (default 10)")
    where = c.add_mutually_exclusive_group()
    where.add_argument("--start-seq", type=positive_int, metavar="SEQ",
                       help="start at stream sequence SEQ (default: the first)")
    where.add_argument("--last", type=positive_int, metavar="N",
                       help="the last N messages of the stream")
    add_body_shape(c)

    c = command(cmds, "get-batch", common, "print stored messages with one batch direct get",
                run_get_batch, epilog=BATCH_EPILOG)
    c.add_argument("name", metavar="STREAM", help="the stream's name")
    c.add_argument("--subject", metavar="SUBJECT", help="only messages of SUBJECT (wildcards ok)")
    c.add_argument("-c", "--count", type=positive_int, default=100, metavar="N",
                   help="at most N messages (default 100)")
    c.add_argument("--start-seq", type=positive_int, metavar="SEQ",
                   help="start at stream sequence SEQ (default: the first)")
    c.add_argument("--last-for", metavar="SUBJECT", action="append",
                   help="the newest message of each subject matching SUBJECT (repeatable)")
    c.add_argument("--up-to-seq", type=positive_int, metavar="SEQ",
                   help="with --last-for: as the stream was at sequence SEQ")
    add_body_shape(c)


# --- ls / info -----------------------------------------------------------------------------------


def run_ls(session: Session) -> int:
    """List the streams."""
    args = session.args
    out = session.out
    js = session.js()
    if args.names:
        names = sorted(js.stream_names(subject=args.subject))
        out.names(names)
        return 0
    infos = sorted(js.streams_info(subject=args.subject), key=lambda i: i.config.name or "")
    if out.json_mode:
        out.json([i.as_dict() for i in infos])
        return 0
    if not infos:
        out.line("No streams defined")
        return 0
    out.table(["Name", "Subjects", "Messages", "Size", "Consumers", "Last message"],
              [[i.config.name, i.config.subjects or [], count(i.state.messages),
                show_size(i.state.bytes), i.state.consumer_count, when(i.state.last_ts)]
               for i in infos])
    return 0


def run_info(session: Session) -> int:
    """Show one stream."""
    info = session.js().stream_info(session.args.name)
    show_info(session.out, info)
    return 0


def show_info(out: Output, info: api.StreamInfo) -> None:
    """A stream's configuration and state, for people or as the server's JSON."""
    if out.json_mode:
        out.json(info.as_dict())
        return
    c, s = info.config, info.state
    out.line(f"Stream {c.name}" + (f": {c.description}" if c.description else ""))
    out.line()
    out.line("Configuration:")
    out.fields([
        ("Subjects", human(c.subjects or [])),
        ("Storage", human(c.storage)),
        ("Retention", human(c.retention)),
        ("Replicas", c.num_replicas),
        ("Discard", human(c.discard)),
        ("Maximum messages", count(c.max_msgs)),
        ("Maximum bytes", show_size(c.max_bytes)),
        ("Maximum age", show_duration(c.max_age)),
        ("Maximum message size", show_size(c.max_msg_size)),
        ("Maximum per subject", count(c.max_msgs_per_subject)),
        ("Duplicate window", show_duration(c.duplicate_window) if c.duplicate_window else None),
        ("Allows direct get", c.allow_direct),
        ("Sealed", c.sealed or None),
        ("Created", when(info.created)),
    ], indent=2)
    out.line()
    out.line("State:")
    out.fields([
        ("Messages", count(s.messages)),
        ("Bytes", show_size(s.bytes)),
        ("First sequence", f"{s.first_seq}" + (f" @ {when(s.first_ts)}" if s.first_ts else "")),
        ("Last sequence", f"{s.last_seq}" + (f" @ {when(s.last_ts)}" if s.last_ts else "")),
        ("Deleted messages", s.num_deleted or None),
        ("Subjects", s.num_subjects),
        ("Consumers", s.consumer_count),
    ], indent=2)


# --- add / rm / purge ------------------------------------------------------------------------------


def run_add(session: Session) -> int:
    """Create a stream from flags (and --config)."""
    from ..js import api

    args = session.args
    cfg = _config_file(args.config) if args.config else api.StreamConfig()
    subjects: Optional[list[str]] = None
    if args.subjects:
        subjects = [s.strip() for arg in args.subjects for s in arg.split(",") if s.strip()]
    changes: dict[str, Any] = {"name": args.name}
    if subjects:
        changes["subjects"] = subjects
    elif not cfg.subjects:
        changes["subjects"] = [args.name]
    for field, value in (
            ("description", args.description), ("max_msgs", args.max_msgs),
            ("max_bytes", args.max_bytes), ("max_age", args.max_age),
            ("max_msg_size", args.max_msg_size),
            ("max_msgs_per_subject", args.max_msgs_per_subject),
            ("duplicate_window", args.dupe_window), ("num_replicas", args.replicas),
            ("storage", api.StorageType(args.storage) if args.storage else None),
            ("retention", api.RetentionPolicy(args.retention) if args.retention else None),
            ("discard", api.DiscardPolicy(args.discard) if args.discard else None),
            ("allow_direct", True if args.allow_direct else None)):
        if value is not None:
            changes[field] = value
    for _, field, _ in FEATURE_FLAGS:
        if getattr(args, field):
            changes[field] = True
    if cfg.storage is None and "storage" not in changes:
        changes["storage"] = api.StorageType.FILE
    info = session.js().add_stream(cfg.evolve(**changes))
    if not session.out.json_mode:
        session.out.line(f"Created stream {info.config.name}")
        session.out.line()
    show_info(session.out, info)
    return 0


def _config_file(path: str) -> api.StreamConfig:
    from ..js import api

    try:
        doc = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("config"), dict):
        doc = doc["config"]  # a whole `stream info --json` document
    if not isinstance(doc, dict):
        raise CliError(f"{path} does not hold a JSON object")
    return api.StreamConfig.from_response(doc)


def run_rm(session: Session) -> int:
    """Delete a stream."""
    args = session.args
    js = session.js()
    if not _confirm_delete(session, f"stream {args.name} and all its messages"):
        return 1
    js.delete_stream(args.name)
    _done(session, {"stream": args.name, "deleted": True}, f"Deleted stream {args.name}")
    return 0


def run_purge(session: Session) -> int:
    """Remove messages from a stream."""
    args = session.args
    js = session.js()
    before = js.stream_info(args.name).state.messages
    what = f" of subject {args.subject}" if args.subject else ""
    if not confirm(f"Really purge the messages{what} from stream {args.name}?", args.force):
        session.out.note("Not purged")
        return 1
    js.purge_stream(args.name, seq=args.seq, subject=args.subject, keep=args.keep)
    after = js.stream_info(args.name).state.messages
    _done(session, {"stream": args.name, "purged": before - after, "messages": after},
          f"Purged {before - after:,} messages from stream {args.name} ({after:,} left)")
    return 0


def run_rmm(session: Session) -> int:
    """Delete one message."""
    args = session.args
    js = session.js()
    if not _confirm_delete(session, f"message {args.seq} from stream {args.name}"):
        return 1
    js.delete_msg(args.name, args.seq, no_erase=args.no_erase)
    how = "deleted" if args.no_erase else "erased"
    _done(session, {"stream": args.name, "seq": args.seq, "deleted": True,
                    "erased": not args.no_erase},
          f"Message {args.seq} {how} from stream {args.name}")
    return 0


def _confirm_delete(session: Session, what: str) -> bool:
    """Ask before deleting `what` of stream `args.name` (which must exist: a missing one
    fails before the question); False, said so, when the answer is no."""
    session.js().stream_info(session.args.name)
    if confirm(f"Really delete {what}?", session.args.force):
        return True
    session.out.note("Not deleted")
    return False


def _done(session: Session, doc: dict[str, Any], text: str) -> None:
    if session.out.json_mode:
        session.out.json(doc)
    else:
        session.out.line(text)


# --- view ------------------------------------------------------------------------------------------


def run_view(session: Session) -> int:
    """Print stored messages, oldest first."""
    from ..js.errors import MsgNotFoundError

    args = session.args
    out = session.out
    js = session.js()
    info = js.stream_info(args.name)
    filt = args.subject or ">"
    seq = args.start_seq or info.state.first_seq or 1
    if args.last:
        if args.subject:
            raise UsageError("--last cannot be combined with --subject; use --start-seq")
        seq = max(info.state.first_seq, info.state.last_seq - args.last + 1)
    shown = 0
    while shown < args.count and seq <= info.state.last_seq:
        try:
            msg = js.get_msg(args.name, seq=seq, subject=filt, next=True)
        except MsgNotFoundError:
            break
        shown += 1
        seq = msg.seq + 1
        _show_stored(out, args, msg)
    if shown == 0 and not out.json_mode and not args.raw:
        out.note(f"No messages in stream {args.name}" + (f" on {args.subject}" if args.subject
                                                        else ""))
    return 0


def _show_stored(out: Output, args: argparse.Namespace, msg: api.RawStreamMsg) -> None:
    """One stored message, as `view` and `get-batch` print it."""
    if out.json_mode:
        out.json_line(message_json(msg.subject, msg.data, msg.headers, stream=args.name,
                                   seq=msg.seq, time=msg.time))
        return
    title = f"[{msg.seq}] {msg.subject}" + (f" @ {when(msg.time)}" if msg.time else "")
    show_message(out, title, msg.data, msg.headers, args.headers, args.raw)


def run_get_batch(session: Session) -> int:
    """Print stored messages read with one batch (or multi-last) direct get."""
    args = session.args
    js = session.js()
    if args.last_for:
        if args.subject or args.start_seq:
            raise UsageError("--last-for cannot be combined with --subject or --start-seq")
        msgs = js.get_last_for_subjects(args.name, args.last_for, up_to_seq=args.up_to_seq,
                                        batch=args.count, timeout=session.timeout)
    else:
        if args.up_to_seq:
            raise UsageError("--up-to-seq needs --last-for")
        msgs = js.get_batch(args.name, args.subject, batch=args.count, start_seq=args.start_seq,
                            timeout=session.timeout)
    shown = 0
    for msg in msgs:
        shown += 1
        _show_stored(session.out, args, msg)
    if shown == 0 and not session.out.json_mode and not args.raw:
        session.out.note(f"No matching messages in stream {args.name}")
    return 0
