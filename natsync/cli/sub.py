"""`natsync sub`: print the messages arriving on subjects."""

from __future__ import annotations

import argparse
import queue
from typing import TYPE_CHECKING, Iterator, Optional

from .common import add_body_shape, positive_int
from .output import message_json, show_message
from .tree import command

if TYPE_CHECKING:
    from ..msg import Msg
    from .connection import Session
    from .tree import Subparsers

EPILOG = """\
Runs until Ctrl-C, or until --count messages arrived. "Subscribing on ..." goes to
stderr once the server has the subscription. With --json, each message is one line of
JSON: subject, reply, headers ({name: [values]}), size, and data (UTF-8 text) or
data_b64 (base64, for other bytes).

examples:
  natsync sub 'orders.>'
  natsync sub work --queue workers --count 1 --raw
  natsync sub 'logs.*' --json | jq .data"""


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `sub`."""

    p = command(sub, "sub", common, "subscribe and print messages", run, epilog=EPILOG,
                description="Print the messages published to SUBJECT(s) (wildcards allowed).")
    p.add_argument("subjects", metavar="SUBJECT", nargs="+",
                   help="subjects to subscribe to; * and > are wildcards")
    p.add_argument("--queue", metavar="GROUP", default="",
                   help="join a queue group (each message goes to one member)")
    p.add_argument("-c", "--count", type=positive_int, metavar="N",
                   help="exit after N messages")
    add_body_shape(p)


def listen(session: Session, subjects: list[str], group: str, count: Optional[int],
           verb: str) -> Iterator[Msg]:
    """Subscribe to `subjects` and yield what arrives, up to `count` messages (or Ctrl-C).

    With a count the server itself stops after N, so a queue-group member takes no more
    work than it handles.
    """
    out = session.out
    nc = session.nc()
    inbox: queue.Queue[Msg] = queue.Queue()
    for subject in subjects:
        nc.subscribe(subject, queue=group, cb=inbox.put, max_msgs=count or 0)
    nc.flush(timeout=session.timeout)
    in_group = f" in queue group {group!r}" if group else ""
    out.note(f"{verb} {', '.join(subjects)}{in_group}")
    n = 0
    while count is None or n < count:
        try:
            msg = inbox.get(timeout=0.5)  # a timeout keeps Ctrl-C responsive
        except queue.Empty:
            continue
        n += 1
        yield msg


def run(session: Session) -> int:
    """Subscribe, then print until the count is reached (or Ctrl-C)."""
    args = session.args
    out = session.out
    for n, msg in enumerate(listen(session, args.subjects, args.queue, args.count,
                                   "Subscribing on"), 1):
        if out.json_mode:
            out.json_line(message_json(msg.subject, msg.data, msg.headers, msg.reply))
            continue
        title = f"[#{n}] Received on {msg.subject!r}"
        if msg.reply:
            title += f" with reply {msg.reply!r}"
        show_message(out, title, msg.data, msg.headers, args.headers, args.raw)
    return 0
