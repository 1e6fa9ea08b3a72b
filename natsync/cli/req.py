"""`natsync req` (send a request, print the reply) and `natsync reply` (a tiny responder)."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from ..headers import Headers
from .common import UsageError, body, header, headers_of, non_negative_int, positive_int, render
from .output import message_json, show_message
from .sub import listen
from .tree import command

if TYPE_CHECKING:
    from .connection import Session
    from .tree import Subparsers

REQ_EPILOG = """\
The reply's body goes to stdout (with --headers, its headers first). Without DATA
(or with -) the request body is read from stdin when stdin is not a terminal.
Exits with status 1 when nobody answers (no responders) or no reply comes in time.

examples:
  natsync req time
  natsync req svc.echo 'hello' --timeout 2s
  natsync req 'inventory.count' --replies 0 --timeout 1   # every reply within 1 s"""

REPLY_EPILOG = """\
RESPONSE may hold placeholders, filled in for each request: {{msg}} (the request's
body), {{subject}} (its subject), {{count}} (1, 2, ...), {{time}} and {{id}}.
--echo answers with the request's own body and headers.
"Listening on ..." goes to stderr once the server has the subscription; each request
is then printed like `sub` prints messages (JSON Lines with --json).

examples:
  natsync reply time '{{time}}'
  natsync reply svc.echo --echo --queue echoers
  natsync reply greet 'hello, {{msg}}' --count 1"""


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `req` and `reply`."""

    p = command(sub, "req", common, "send a request and print the reply", run_req,
                epilog=REQ_EPILOG, aliases=["request"],
                description="Send DATA (or stdin) to SUBJECT and print the reply.")
    p.add_argument("subject", metavar="SUBJECT", help="the subject to send the request to")
    p.add_argument("data", metavar="DATA", nargs="?", help="the request body (default: stdin)")
    p.add_argument("-H", "--header", type=header, action="append", metavar="NAME:VALUE",
                   help="add a header (repeatable)")
    p.add_argument("--replies", type=non_negative_int, default=1, metavar="N",
                   help="wait for N replies (0: all that come within --timeout); default 1")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("-r", "--raw", action="store_true",
                       help="print only the body (the default for one reply)")
    shape.add_argument("--headers", action="store_true", help="print the reply's headers too")

    p = command(sub, "reply", common, "answer requests with a fixed or echoed response",
                run_reply, epilog=REPLY_EPILOG,
                description="Answer every request on SUBJECT with RESPONSE (or --echo).")
    p.add_argument("subject", metavar="SUBJECT", help="the subject to answer on (wildcards allowed)")
    p.add_argument("response", metavar="RESPONSE", nargs="?",
                   help="the reply body; {{msg}} is the request's body")
    p.add_argument("--echo", action="store_true", help="reply with the request's body and headers")
    p.add_argument("--queue", metavar="GROUP", default="",
                   help="queue group, to share requests with other responders")
    p.add_argument("-c", "--count", type=positive_int, metavar="N",
                   help="exit after answering N requests")
    p.add_argument("-H", "--header", type=header, action="append", metavar="NAME:VALUE",
                   help="add a header to every reply (repeatable)")
    p.add_argument("--headers", action="store_true", help="print the requests' headers too")


def run_req(session: Session) -> int:
    """Send the request; print the reply (or replies)."""
    args = session.args
    out = session.out
    payload = body(args.data)
    hdrs = headers_of(args.header)
    nc = session.nc()
    start = time.perf_counter()
    if args.replies == 1:
        replies = [nc.request(args.subject, payload, timeout=session.timeout, headers=hdrs)]
    else:
        replies = list(nc.request_many(args.subject, payload, timeout=session.timeout,
                                       max_msgs=args.replies or None, headers=hdrs))
    rtt = time.perf_counter() - start
    for i, msg in enumerate(replies, 1):
        if out.json_mode:
            out.json_line(message_json(msg.subject, msg.data, msg.headers, rtt=round(rtt, 6)))
        elif args.replies == 1 and not args.headers:
            out.raw(msg.data, newline=True)
        else:
            show_message(out, f"[#{i}] Reply", msg.data, msg.headers,
                         args.headers, args.raw)
    if not out.json_mode and args.replies != 1:
        out.note(f"{len(replies)} repl{'y' if len(replies) == 1 else 'ies'} in "
                 f"{rtt * 1000:.3f}ms")
    return 0


def run_reply(session: Session) -> int:
    """Answer requests until the count is reached (or Ctrl-C)."""
    args = session.args
    out = session.out
    if args.response is None and not args.echo:
        raise UsageError("give a RESPONSE or --echo")
    if args.response is not None and args.echo:
        raise UsageError("give either a RESPONSE or --echo, not both")
    extra = headers_of(args.header)
    for n, msg in enumerate(listen(session, [args.subject], args.queue, args.count,
                                   "Listening on"), 1):
        hdrs = Headers(msg.headers) if args.echo and msg.headers is not None else Headers()
        if args.echo:
            data = msg.data
        else:
            data = render(args.response, {
                "msg": msg.data.decode("utf-8", "replace"), "subject": msg.subject,
                "count": str(n)})
        for name, value in extra.items_all() if extra is not None else ():
            hdrs[name] = value
        if msg.reply:
            msg.respond(data, headers=hdrs if len(hdrs) else None)
        if out.json_mode:
            out.json_line(message_json(msg.subject, msg.data, msg.headers, msg.reply, count=n))
        else:
            note = "" if msg.reply else " (no reply subject: not answered)"
            show_message(out, f"[#{n}] Received request on {msg.subject!r}{note}", msg.data,
                         msg.headers, args.headers)
    return 0
