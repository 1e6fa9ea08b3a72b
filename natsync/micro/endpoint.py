"""An endpoint: one subscription, its handler threads and its statistics."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Dict, Optional

from ..errors import BadSubscriptionError, ConnectionClosedError, DrainTimeoutError
from ..msg import Msg
from ..subscription import Subscription
from .api import EndpointInfo, EndpointStats
from .errors import HandlerError
from .request import Request

if TYPE_CHECKING:
    from .service import Service

Handler = Callable[[Request], object]
"""An endpoint handler: a plain function called with each Request on a worker thread."""

log = logging.getLogger("natsync.micro")
_worker = threading.local()


def _one_line(text: str) -> str:
    """`text` fit for a header value: CR and LF become spaces."""
    return " ".join(text.splitlines()).strip()


class Endpoint:
    """A subject served by a handler, in a queue group unless disabled, with live statistics.

    With `max_concurrency` 1 the handler runs on the subscription's own thread, one
    request at a time in arrival order; above 1 a pool of that many threads runs it,
    and further requests wait in the subscription (subject to its pending limits).
    """

    def __init__(self, service: Service, name: str, subject: str, queue_group: str,
                 queue_group_disabled: bool, metadata: Optional[Dict[str, str]],
                 handler: Handler, max_concurrency: int) -> None:
        self.service = service
        self.name = name
        self.subject = subject
        self.queue_group = queue_group
        self.queue_group_disabled = queue_group_disabled
        self.metadata = metadata
        self.max_concurrency = max_concurrency
        self._handler = handler
        self._lock = threading.Lock()
        self._num_requests = 0
        self._num_errors = 0
        self._last_error = ""
        self._processing_time = 0
        self._sub: Optional[Subscription] = None
        self._pool: Optional[ThreadPoolExecutor] = None
        self._slots: Optional[threading.Semaphore] = None

    # --- lifecycle ------------------------------------------------------------------------

    def _start(self) -> None:
        """Subscribe; the service calls this once, holding its lock."""
        cb: Callable[[Msg], None] = self._handle
        if self.max_concurrency > 1:
            self._slots = threading.Semaphore(self.max_concurrency)
            self._pool = ThreadPoolExecutor(
                max_workers=self.max_concurrency,
                thread_name_prefix=f"natsync-micro-{self.service.name}-{self.name}")
            cb = self._submit
        self._sub = self.service.nc.subscribe(self.subject, queue=self.queue_group, cb=cb)

    def _stop(self, deadline: float) -> None:
        """Drain the subscription, then wait (until `deadline`) for the pool's handlers.

        Raises DrainTimeoutError when the handlers did not finish in time. Called from one
        of this endpoint's own pool threads, it stops in the background instead, since
        waiting for itself would only end at the deadline.
        """
        if self._pool is not None and getattr(_worker, "endpoint", None) is self:
            threading.Thread(target=self._stop_in_background, args=(deadline,), daemon=True,
                             name=f"natsync-micro-stop-{self.name}").start()
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
        """`_stop()` on a thread of its own; a failure can only be logged there."""
        try:
            self._stop(deadline)
        except Exception as exc:
            log.warning("natsync.micro: stopping endpoint %r: %s", self.name, exc)

    def _stop_pool(self, deadline: float) -> None:
        """Wait for every busy worker (by taking all the slots), then end the pool."""
        assert self._pool is not None and self._slots is not None
        taken = 0
        while taken < self.max_concurrency:
            if not self._slots.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                break
            taken += 1
        self._pool.shutdown(wait=taken == self.max_concurrency)
        for _ in range(taken):
            self._slots.release()
        if taken < self.max_concurrency:
            raise DrainTimeoutError(f"nats: handlers of endpoint {self.name!r} did not "
                                    "finish in time")

    # --- dispatch -------------------------------------------------------------------------

    def _submit(self, msg: Msg) -> None:
        """On the subscription's thread: wait for a free worker, then hand it the request."""
        assert self._slots is not None and self._pool is not None
        self._slots.acquire()
        try:
            self._pool.submit(self._run_in_pool, msg)
        except RuntimeError:  # the pool was shut down (stop() called from a handler)
            self._slots.release()
            log.warning("natsync.micro: endpoint %r stopped; request on %r not handled",
                        self.name, msg.subject)

    def _run_in_pool(self, msg: Msg) -> None:
        """On a pool thread: handle one request and free the slot."""
        _worker.endpoint = self
        try:
            self._handle(msg)
        finally:
            _worker.endpoint = None
            assert self._slots is not None
            self._slots.release()

    def _handle(self, msg: Msg) -> None:
        """Run the handler; an exception becomes an error reply; record the statistics."""
        req = Request(msg, self._record)
        try:
            self._handler(req)
        except HandlerError as exc:
            self._answer_error(req, exc.code, exc.description, exc.data, exc)
        except Exception as exc:
            description = _one_line(str(exc)) or type(exc).__name__
            log.error("natsync.micro: handler of endpoint %r failed on %r", self.name,
                      msg.subject, exc_info=True)
            self._answer_error(req, "500", description, b"", None)
        self._record(req)

    def _record(self, req: Request) -> None:
        """Count a request once (at its reply, or when the handler returns), and its error."""
        with self._lock:
            if not req._counted:
                req._counted = True
                self._num_requests += 1
                self._processing_time += time.perf_counter_ns() - req._start
            if req._error is not None and not req._error_counted:
                req._error_counted = True
                self._num_errors += 1
                self._last_error = req._error

    def _answer_error(self, req: Request, code: str, description: str, data: bytes,
                      exc: Optional[HandlerError]) -> None:
        """Reply with a service error unless the handler already answered; record it."""
        if not req.responded and req.reply:
            try:
                req.respond_error(code, description, data,
                                  headers=exc.headers if exc is not None else None)
            except Exception as err:  # a closed connection, a bad header value...
                log.warning("natsync.micro: could not send the error reply of endpoint %r: %s",
                            self.name, err)
        req._error = f"{code}:{description}"

    # --- statistics -----------------------------------------------------------------------

    def stats(self) -> EndpointStats:
        """A snapshot of this endpoint's statistics (without stats-handler data)."""
        with self._lock:
            n = self._num_requests
            total = self._processing_time
            return EndpointStats(
                name=self.name, subject=self.subject, queue_group=self.queue_group,
                num_requests=n, num_errors=self._num_errors, last_error=self._last_error,
                processing_time=total, average_processing_time=total // n if n else 0)

    def info(self) -> EndpointInfo:
        """What `$SRV.INFO` says about this endpoint."""
        metadata = dict(self.metadata) if self.metadata is not None else None
        return EndpointInfo(name=self.name, subject=self.subject,
                            queue_group=self.queue_group, metadata=metadata)

    def reset(self) -> None:
        """Zero the statistics."""
        with self._lock:
            self._num_requests = 0
            self._num_errors = 0
            self._last_error = ""
            self._processing_time = 0

    @property
    def subscription(self) -> Optional[Subscription]:
        """The endpoint's subscription (None before it started)."""
        return self._sub

    def __repr__(self) -> str:
        queue = f" queue_group={self.queue_group!r}" if self.queue_group else ""
        return f"<Endpoint {self.name!r} subject={self.subject!r}{queue}>"
