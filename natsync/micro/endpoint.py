"""An endpoint: a subject served by a handler, and its statistics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable, Dict, Optional

from ..msg import Msg
from ..subscription import Subscription
from .api import EndpointInfo, EndpointStats
from .dispatch import Dispatcher
from .errors import HandlerError
from .request import Request
from .stats import EndpointTally, RequestRecord

if TYPE_CHECKING:
    from .service import Service

Handler = Callable[[Request], object]
"""An endpoint handler: a plain function called with each Request on a worker thread."""

log = logging.getLogger("natsync.micro")


def _one_line(text: str) -> str:
    """`text` fit for a header value: CR and LF become spaces."""
    return " ".join(text.splitlines()).strip()


class Endpoint:
    """A subject served by a handler, in a queue group unless disabled, with live statistics.

    With `max_concurrency` 1 the handler runs on the subscription's own thread, one
    request at a time in arrival order; above 1 a pool of that many threads runs it,
    and further requests wait in the subscription (subject to its pending limits).
    Created by `add_endpoint()`, started at once on the `dispatcher` its service keeps.
    """

    def __init__(self, service: Service, name: str, subject: str, queue_group: str,
                 queue_group_disabled: bool, metadata: Optional[Dict[str, str]],
                 handler: Handler, max_concurrency: int, dispatcher: Dispatcher) -> None:
        self.service = service
        self.name = name
        self.subject = subject
        self.queue_group = queue_group
        self.queue_group_disabled = queue_group_disabled
        self.metadata = metadata
        self.max_concurrency = max_concurrency
        self._handler = handler
        self._tally = EndpointTally()
        self._dispatcher = dispatcher
        dispatcher.start(subject, queue_group, self._handle)

    # --- dispatch -------------------------------------------------------------------------

    def _handle(self, msg: Msg) -> None:
        """Run the handler; an exception becomes an error reply; record the statistics."""
        record = RequestRecord(self._tally)
        req = Request(msg, record)
        try:
            self._handler(req)
        except HandlerError as exc:
            self._answer_error(req, record, exc.code, exc.description, exc.data, exc)
        except Exception as exc:
            description = _one_line(str(exc)) or type(exc).__name__
            log.error("natsync.micro: handler of endpoint %r failed on %r", self.name,
                      msg.subject, exc_info=True)
            self._answer_error(req, record, "500", description, b"", None)
        record.count()

    def _answer_error(self, req: Request, record: RequestRecord, code: str, description: str,
                      data: bytes, exc: Optional[HandlerError]) -> None:
        """Reply with a service error unless the handler already answered; record it."""
        if not req.responded and req.reply:
            try:
                req.respond_error(code, description, data,
                                  headers=exc.headers if exc is not None else None)
            except Exception as err:  # a closed connection, a bad header value...
                log.warning("natsync.micro: could not send the error reply of endpoint %r: %s",
                            self.name, err)
        record.error = f"{code}:{description}"

    # --- statistics -----------------------------------------------------------------------

    def stats(self) -> EndpointStats:
        """A snapshot of this endpoint's statistics (without stats-handler data)."""
        return self._tally.snapshot(self.name, self.subject, self.queue_group)

    def info(self) -> EndpointInfo:
        """What `$SRV.INFO` says about this endpoint."""
        metadata = dict(self.metadata) if self.metadata is not None else None
        return EndpointInfo(name=self.name, subject=self.subject,
                            queue_group=self.queue_group, metadata=metadata)

    def reset(self) -> None:
        """Zero the statistics."""
        self._tally.reset()

    @property
    def subscription(self) -> Optional[Subscription]:
        """The endpoint's subscription (None before it started)."""
        return self._dispatcher.subscription

    def __repr__(self) -> str:
        queue = f" queue_group={self.queue_group!r}" if self.queue_group else ""
        return f"<Endpoint {self.name!r} subject={self.subject!r}{queue}>"
