"""Request/reply: a service, timeouts, no responders, many threads sharing one client,
a request made from inside a callback, and scatter-gather with request_many().

    python examples/request_reply.py

With NATS_URL set it uses that server; otherwise it starts an embedded nats-server on a
free 127.0.0.1 port and stops it at the end.
"""

from __future__ import annotations

import builtins
import sys
import threading
import time
from typing import Callable

import natsync
from natsync.errors import NoRespondersError, TimeoutError
from natsync.testing import server_url

Say = Callable[[str], None]


def start_services(svc: natsync.Client) -> None:
    """The responders; in real life they would live in other processes."""

    def upper(msg: natsync.Msg) -> None:
        trace = msg.headers.get("Trace-Id", "-") if msg.headers else "-"
        msg.respond(msg.data.upper(), headers={"Trace-Id": trace})

    # Two members of a queue group: each request is answered by exactly one of them.
    svc.subscribe("rr.upper", queue="upper-service", cb=upper)
    svc.subscribe("rr.upper", queue="upper-service", cb=upper)

    # A subscriber that never answers, to show a timeout.
    svc.subscribe("rr.silent", cb=lambda msg: None)

    # Three independent census takers: request_many() collects all their answers.
    for region in ("eu", "us", "ap"):
        svc.subscribe("rr.census", cb=lambda msg, r=region: msg.respond(r.encode()))

    # A streaming responder: several replies, then an empty one (the sentinel).
    def stream(msg: natsync.Msg) -> None:
        for i in range(4):
            msg.respond(b"chunk %d" % i)
        msg.respond(b"")

    svc.subscribe("rr.stream", cb=stream)


def run(url: str, say: Say = print) -> None:
    with natsync.connect(url, name="rr-services") as svc, \
            natsync.connect(url, name="rr-client") as nc:
        start_services(svc)
        svc.flush()   # the server has the subscriptions before the first request

        reply = nc.request("rr.upper", b"hello", timeout=2, headers={"Trace-Id": "42"})
        assert reply.headers is not None
        say(f"Request/reply: 'hello' came back as {reply.data.decode()!r} "
            f"with Trace-Id {reply.headers['Trace-Id']}.")

        try:
            nc.request("rr.nobody", b"?", timeout=5)
        except NoRespondersError:
            say("No responders: nobody serves 'rr.nobody', so the request failed at once "
                "instead of waiting 5 seconds.")

        start = time.monotonic()
        try:
            nc.request("rr.silent", b"?", timeout=0.2)
        except TimeoutError as exc:
            say(f"Timeout: 'rr.silent' did not answer within 0.2 s "
                f"({time.monotonic() - start:.1f} s); the error is also a builtin "
                f"TimeoutError: {isinstance(exc, builtins.TimeoutError)}.")

        # One client, many threads: every reply reaches the thread that asked.
        matched: list[str] = []

        def ask(thread_no: int) -> None:
            for i in range(25):
                text = f"t{thread_no}-{i}"
                answer = nc.request("rr.upper", text.encode(), timeout=5).data.decode()
                if answer == text.upper():
                    matched.append(text)   # list.append is thread-safe

        threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        say(f"Threads: 8 threads made 200 requests through one client; "
            f"{len(matched)} replies matched their requests.")

        # A callback may itself make requests: replies never wait for a callback thread.
        def gateway(msg: natsync.Msg) -> None:
            inner = svc.request("rr.upper", msg.data, timeout=2)
            msg.respond(b"gateway says " + inner.data)

        svc.subscribe("rr.gateway", cb=gateway)
        svc.flush()
        say(f"Nested: {nc.request('rr.gateway', b'ping', timeout=2).data.decode()!r} "
            f"(the gateway's callback made its own request).")

        # Scatter-gather: stop after max_msgs replies...
        regions = sorted(m.data.decode() for m in nc.request_many("rr.census", max_msgs=3,
                                                                   timeout=2))
        say(f"request_many with max_msgs=3: replies from {regions}.")

        # ...or when no reply came for `stall` seconds after the first one...
        start = time.monotonic()
        replies = list(nc.request_many("rr.census", timeout=5, stall=0.2))
        say(f"request_many with stall=0.2: {len(replies)} replies, done after "
            f"{time.monotonic() - start:.1f} s instead of the 5 s timeout.")

        # ...or at an empty reply, the sentinel that ends a stream.
        chunks = [m.data.decode() for m in nc.request_many("rr.stream", timeout=2)]
        say(f"request_many until the empty sentinel: {chunks}.")

        # The same by hand: an inbox, a subscription to it, and publish(reply=...).
        inbox = nc.new_inbox()
        answers = nc.subscribe(inbox)
        nc.publish("rr.upper", b"by hand", reply=inbox)
        say(f"By hand: {answers.next_msg(timeout=2).data.decode()!r} arrived on the inbox "
            f"{inbox} (request() shares one inbox subscription for all its requests).")
    say("Both clients drained and closed.")


def main() -> int:
    with server_url(jetstream=False, say=print) as url:
        run(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
