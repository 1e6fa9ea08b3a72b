"""Publish/subscribe basics: wildcards, headers, three ways to read, queue groups,
slow consumers and what draining does to messages still queued.

    python examples/pubsub_basics.py

With NATS_URL set it uses that server; otherwise it starts an embedded nats-server on a
free 127.0.0.1 port and stops it at the end.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable

import natsync
from natsync.errors import SlowConsumerError
from natsync.testing import server_url

Say = Callable[[str], None]


def take(sub: natsync.Subscription, n: int) -> list[natsync.Msg]:
    """The next `n` messages of a subscription (each waited for up to 2 seconds)."""
    return [sub.next_msg(timeout=2) for _ in range(n)]


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)


def run(url: str, say: Say = print) -> None:
    errors: list[Exception] = []

    # error_cb receives asynchronous errors (slow consumers, failing callbacks...).
    with natsync.connect(url, name="pubsub-basics", error_cb=errors.append) as nc:
        say(f"Connected to {nc.connected_url}.")

        # Wildcards: '*' matches exactly one token, '>' one or more at the end.
        one = nc.subscribe("basics.orders.*")
        rest = nc.subscribe("basics.orders.>")
        nc.publish("basics.orders.new", b"order 1")
        nc.publish("basics.orders.eu.paid", b"order 2")
        got_one = [m.subject for m in take(one, 1)]
        got_rest = [m.subject for m in take(rest, 2)]
        say(f"Wildcards: 'basics.orders.*' received {got_one}; "
            f"'basics.orders.>' received {got_rest}.")
        one.unsubscribe()
        rest.unsubscribe()

        # Headers: a plain dict, or natsync.Headers when a name has several values.
        hsub = nc.subscribe("basics.headers")
        headers = natsync.Headers({"Content-Type": "text/plain"})
        headers.add("Tag", "red")
        headers.add("Tag", "blue")
        nc.publish("basics.headers", b"hi", headers=headers)
        msg = hsub.next_msg(timeout=2)
        assert msg.headers is not None
        say(f"Headers: content-type={msg.headers['content-type']} (looked up in any case), "
            f"tags={msg.headers.get_all('Tag')}.")
        hsub.unsubscribe()

        # Reading by iteration: the loop ends by itself after max_msgs messages.
        counted = nc.subscribe("basics.count", max_msgs=3)
        for i in range(5):
            nc.publish("basics.count", b"%d" % i)
        seen = [m.data.decode() for m in counted]
        say(f"Iteration: a subscription with max_msgs=3 yielded {seen}, then the loop ended.")

        # Queue group with callbacks: each message goes to one member only.
        handled = {"w1": 0, "w2": 0, "w3": 0}
        lock = threading.Lock()   # callbacks of different subscriptions run on different threads
        done = threading.Event()

        def worker(name: str) -> Callable[[natsync.Msg], None]:
            def handle(m: natsync.Msg) -> None:
                with lock:
                    handled[name] += 1
                    if sum(handled.values()) == 30:
                        done.set()
            return handle

        workers = [nc.subscribe("basics.jobs", queue="workers", cb=worker(name))
                   for name in handled]
        for i in range(30):
            nc.publish("basics.jobs", b"job %d" % i)
        done.wait(5)
        say(f"Queue group: 30 jobs were shared by three workers as "
            f"{sorted(handled.values(), reverse=True)} (total {sum(handled.values())}).")
        for w in workers:
            w.drain()   # lets the callback finish what it had received

        # Slow consumer: a subscription holds at most pending_msgs_limit unread messages;
        # the rest are dropped, counted, and reported once to error_cb.
        slow = nc.subscribe("basics.flood", pending_msgs_limit=5)
        for i in range(20):
            nc.publish("basics.flood", b"%d" % i)
        nc.flush()
        wait_until(lambda: slow.pending_msgs + slow.dropped == 20)
        wait_until(lambda: any(isinstance(e, SlowConsumerError) for e in errors))
        reports = [e for e in errors if isinstance(e, SlowConsumerError)]
        say(f"Slow consumer: kept {slow.pending_msgs}, dropped {slow.dropped}; "
            f"error_cb got {len(reports)} SlowConsumerError for {reports[0].subject!r}.")
        slow.unsubscribe()

        # Messages queued on a next_msg() subscription survive the drain and the close.
        late = nc.subscribe("basics.late")
        for i in range(3):
            nc.publish("basics.late", b"late %d" % i)
        wait_until(lambda: late.pending_msgs == 3)
        say("Leaving the `with` block drains the connection, then closes it.")

    leftovers = [m.data.decode() for m in late]
    say(f"After the close (state {nc.state}) the queued messages were still readable: "
        f"{leftovers}.")


def main() -> int:
    with server_url(jetstream=False, say=print) as url:
        run(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
