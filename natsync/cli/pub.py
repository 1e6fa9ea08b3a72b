"""`natsync pub`: publish messages (core NATS, or JetStream with --js)."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from .common import body, has_template, header, headers_of, positive_int, render
from .common import duration as duration_arg
from .tree import command

if TYPE_CHECKING:
    from .connection import Session
    from .tree import Subparsers

EPILOG = """\
DATA may hold placeholders, filled in for each message: {{count}} (1, 2, ...),
{{time}} (RFC 3339, UTC), {{unix}} (seconds since the epoch) and {{id}} (a unique id).
Without DATA (or with -) the body is read from stdin when stdin is not a terminal.

examples:
  natsync pub greet.joe hello
  natsync pub orders.new '{"n": {{count}}}' --count 100 -H Trace-Id:42
  date | natsync pub heartbeat.web1
  natsync pub orders.new "$(cat order.json)" --js     # wait for the stream's ack"""


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `pub`."""

    p = command(sub, "pub", common, "publish a message", run, epilog=EPILOG,
                description="Publish DATA (or stdin) to SUBJECT, COUNT times.")
    p.add_argument("subject", metavar="SUBJECT", help="the subject to publish to")
    p.add_argument("data", metavar="DATA", nargs="?", help="the body (default: stdin)")
    p.add_argument("-c", "--count", type=positive_int, default=1, metavar="N",
                   help="publish N messages (default 1)")
    p.add_argument("-H", "--header", type=header, action="append", metavar="NAME:VALUE",
                   help="add a header (repeatable)")
    p.add_argument("--reply", metavar="SUBJECT", default="", help="reply subject to send with it")
    p.add_argument("--sleep", type=duration_arg, default=0.0, metavar="DURATION",
                   help="pause between messages")
    p.add_argument("--js", action="store_true",
                   help="publish to JetStream and wait for each acknowledgement")
    p.add_argument("--msg-id", metavar="ID",
                   help="with --js: Nats-Msg-Id for de-duplication ({{count}} allowed)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def run(session: Session) -> int:
    """Publish the messages, then flush so they have reached the server."""
    args = session.args
    out = session.out
    template = args.data if has_template(args.data) else None
    payload = b"" if template is not None else body(args.data)
    hdrs = headers_of(args.header)
    nc = session.nc()
    js = session.js() if args.js else None
    total = 0
    acks: list[dict[str, Any]] = []
    for i in range(1, args.count + 1):
        values = {"count": str(i)}
        data = render(template, values) if template is not None else payload
        if js is not None:
            msg_id = render(args.msg_id, values).decode() if args.msg_id else None
            ack = js.publish(args.subject, data, headers=hdrs, msg_id=msg_id,
                             timeout=session.timeout)
            acks.append({"stream": ack.stream, "seq": ack.seq,
                         "duplicate": bool(ack.duplicate)})
        else:
            nc.publish(args.subject, data, reply=args.reply, headers=hdrs)
        total += len(data)
        if args.sleep and i < args.count:
            time.sleep(args.sleep)
    nc.flush(timeout=session.timeout)
    if args.quiet:
        return 0
    if out.json_mode:
        doc: dict[str, Any] = {"subject": args.subject, "count": args.count, "bytes": total}
        if js is not None:
            doc["acks"] = acks
        out.json(doc)
        return 0
    what = "1 message" if args.count == 1 else f"{args.count:,} messages"
    line = f"Published {what} ({total:,} bytes) to {args.subject!r}"
    if acks:
        last = acks[-1]
        line += f"; stored in stream {last['stream']!r} at sequence {last['seq']}"
        dupes = sum(1 for a in acks if a["duplicate"])
        if dupes:
            line += f" ({dupes} duplicate{'s' if dupes > 1 else ''} ignored)"
    out.line(line)
    return 0
