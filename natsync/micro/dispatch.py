"""An endpoint's subscription and worker threads: how its requests reach its handler.

With `max_concurrency` 1 the handler runs on the subscription's own thread, one request
at a time in arrival order; above 1 a pool of that many threads runs it, and further
requests wait in the subscription (subject to its pending limits).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Optional

from ..errors import BadSubscriptionError, ConnectionClosedError, DrainTimeoutError
from ..msg import Msg
from ..subscription import Subscription

if TYPE_CHECKING:
    from ..client import Client

log = logging.getLogger("natsync.micro")
_worker = threading.local()


class Dispatcher:
    """Subscribes an endpoint, hands its requests to `handle`, and stops it (drain, then
    wait for the workers). `name` is the endpoint's, `threads` its pool threads' prefix."""

    def __init__(self, nc: Client, name: str, threads: str, max_concurrency: int) -> None:
        self._nc = nc
        self._name = name
        self._threads = threads
        self._max_concurrency = max_concurrency
        self._handle: Optional[Callable[[Msg], None]] = None
        self._sub: Optional[Subscription] = None
        self._pool: Optional[ThreadPoolExecutor] = None
        self._slots: Optional[threading.Semaphore] = None

    @property
    def subscription(self) -> Optional[Subscription]:
        """The endpoint's subscription (None before it started)."""
        return self._sub

    def start(self, subject: str, queue_group: str, handle: Callable[[Msg], None]) -> None:
        """Subscribe `subject`; each request goes to `handle`, on a pool thread if any."""
        self._handle = handle
        cb = handle
        if self._max_concurrency > 1:
            self._slots = threading.Semaphore(self._max_concurrency)
            self._pool = ThreadPoolExecutor(max_workers=self._max_concurrency,
                                            thread_name_prefix=self._threads)
            cb = self._submit
        self._sub = self._nc.subscribe(subject, queue=queue_group, cb=cb)

    def stop(self, deadline: float) -> None:
        """Drain the subscription, then wait (until `deadline`) for the pool's handlers.

        Raises DrainTimeoutError when the handlers did not finish in time. Called from one
        of this endpoint's own pool threads, it stops in the background instead, since
        waiting for itself would only end at the deadline.
        """
        if self._pool is not None and getattr(_worker, "dispatcher", None) is self:
            threading.Thread(target=self._stop_in_background, args=(deadline,), daemon=True,
                             name=f"natsync-micro-stop-{self._name}").start()
            return
        sub = self._sub
        try:
            if sub is not None and sub.is_valid:
                sub.drain(timeout=max(deadline - time.monotonic(), 0.001))
        except (ConnectionClosedError, BadSubscriptionError):
            pass  # the connection or the subscription already ended: nothing left to drain
        finally:
            if self._pool is not None:
                self._stop_pool(deadline)

    def _stop_in_background(self, deadline: float) -> None:
        """`stop()` on a thread of its own; a failure can only be logged there."""
        try:
            self.stop(deadline)
        except Exception as exc:
            log.warning("natsync.micro: stopping endpoint %r: %s", self._name, exc)

    def _stop_pool(self, deadline: float) -> None:
        """Wait for every busy worker (by taking all the slots), then end the pool."""
        assert self._pool is not None and self._slots is not None
        taken = 0
        while taken < self._max_concurrency:
            if not self._slots.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                break
            taken += 1
        self._pool.shutdown(wait=taken == self._max_concurrency)
        for _ in range(taken):
            self._slots.release()
        if taken < self._max_concurrency:
            raise DrainTimeoutError(f"nats: handlers of endpoint {self._name!r} did not "
                                    "finish in time")

    def _submit(self, msg: Msg) -> None:
        """On the subscription's thread: wait for a free worker, then hand it the request."""
        assert self._slots is not None and self._pool is not None
        self._slots.acquire()
        try:
            self._pool.submit(self._run_in_pool, msg)
        except RuntimeError:  # the pool was shut down (stop() called from a handler)
            self._slots.release()
            log.warning("natsync.micro: endpoint %r stopped; request on %r not handled",
                        self._name, msg.subject)

    def _run_in_pool(self, msg: Msg) -> None:
        """On a pool thread: handle one request and free the slot."""
        _worker.dispatcher = self
        try:
            assert self._handle is not None
            self._handle(msg)
        finally:
            _worker.dispatcher = None
            assert self._slots is not None
            self._slots.release()
