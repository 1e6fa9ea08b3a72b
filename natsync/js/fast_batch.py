"""Fast-ingest batch publish (ADR-50, nats-server 2.14): the quickest way to load a stream.

Messages are plain publishes whose reply subject describes the batch:
`<inbox>.<flow>.<gap>.<batch seq>.<op>.$FI`, where the inbox's last token is the batch
id, `op` is 0 start, 1 append, 2 commit with this message, 3 commit without it (end of
batch) and 4 ping. The server answers on that inbox with flow acks
(`{"type":"ack","seq":N,"msgs":M}`: every M messages; N and below are persisted), gap
reports, per-message errors and finally the PubAck. The publisher keeps at most
`max_outstanding_acks` acks' worth of messages unacknowledged.
"""

from __future__ import annotations

import json
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, Union

from ..errors import BadArgumentError, Error
from ..errors import TimeoutError as NatsTimeoutError
from ..headers import HeadersLike
from . import api
from .errors import APIError, FastBatchGapError, NoStreamResponseError
from .features import FAST_BATCH, require
from .publish import pub_ack, publish_headers

if TYPE_CHECKING:
    from ..client import Client
    from ..msg import Msg
    from ..subscription import Subscription

OP_START, OP_APPEND, OP_COMMIT, OP_COMMIT_EOB, OP_PING = range(5)

#: How long to wait for a flow ack before pinging the server for it again.
PING_INTERVAL = 1.0


def fast_reply(inbox: str, flow: int, gap_ok: bool, seq: int, op: int) -> str:
    """The reply subject of one fast-batch message."""
    return f"{inbox}.{flow}.{'ok' if gap_ok else 'fail'}.{seq}.{op}.$FI"


class FastBatch:
    """`js.fast_batch()`: `add()` messages at full speed, then `commit()`.

    Not atomic: messages are stored as they arrive. With `gap="fail"` (the default) a
    lost message ends the batch (the next `add` raises FastBatchGapError) so what is
    stored has no holes; with `gap="ok"` losses are recorded in `gaps` and the batch
    goes on. `acked` is the highest batch sequence the server confirmed; `ack` the
    final PubAck (`batch_size` messages).
    """

    def __init__(self, nc: Client, timeout: float, flow: int = 500, gap: str = "fail",
                 max_outstanding_acks: int = 2) -> None:
        require(nc, FAST_BATCH)
        if gap not in ("ok", "fail"):
            raise BadArgumentError(f"gap must be 'ok' or 'fail', got {gap!r}")
        if isinstance(flow, bool) or not isinstance(flow, int) or not 0 < flow <= 65535:
            raise BadArgumentError(f"flow must be an int from 1 to 65535, got {flow!r}")
        if not isinstance(max_outstanding_acks, int) or not 1 <= max_outstanding_acks <= 3:
            raise BadArgumentError("max_outstanding_acks must be 1, 2 or 3, "
                                   f"got {max_outstanding_acks!r}")
        self._nc = nc
        self._timeout = timeout
        self._flow = flow
        self._gap_ok = gap == "ok"
        self._outstanding = max_outstanding_acks
        self._inbox = nc.new_inbox()
        self.batch_id = self._inbox.rsplit(".", 1)[1]
        # Every reply is fast_reply(inbox, flow, gap, seq, op); its fixed head is built once.
        self._reply_head = fast_reply(self._inbox, flow, self._gap_ok, 0, 0)[:-len("0.0.$FI")]
        self._sub: Subscription = nc.subscribe(self._inbox + ".>")
        self.seq = 0
        self._last_data_seq = 0
        self.acked = 0
        self._every = 1
        self._last_subject = ""
        self.gaps: list[tuple[int, int]] = []
        self.errors: list[tuple[int, APIError]] = []
        self.ack: Optional[api.PubAck] = None
        self._failure: Optional[Exception] = None
        self._started = False  # the server answered the first message
        self._closed = False

    # --- publishing -----------------------------------------------------------------------

    def add(self, subject: str, data: bytes = b"", headers: Optional[HeadersLike] = None,
            msg_id: Optional[str] = None, msg_ttl: Union[int, float, str, None] = None) -> int:
        """Publish one message of the batch; returns its batch sequence.

        Blocks only when the server is `max_outstanding_acks` flow acks behind.
        """
        if self._closed:
            self._check_open()
        if self._sub.pending_msgs:
            self._drain()
        if self._failure is not None:
            self._raise_failure()  # a gap or error reported since the last add ends the batch
        self._send(subject, data, headers, msg_id, msg_ttl,
                   OP_START if self.seq == 0 else OP_APPEND)
        if self.seq == 1:
            self._await(lambda: self._started, "the batch to start")
        elif self.acked + self._every * self._outstanding <= self.seq:
            self._await(lambda: self.acked + self._every * self._outstanding > self.seq,
                        "flow acks")
        return self.seq

    def commit(self, subject: Optional[str] = None, data: bytes = b"",
               headers: Optional[HeadersLike] = None, msg_id: Optional[str] = None,
               msg_ttl: Union[int, float, str, None] = None) -> api.PubAck:
        """End the batch and wait for its PubAck.

        With `subject` the commit carries one last message; without, it only ends the
        batch (at least one message must have been added).
        """
        self._check_open()
        if subject is not None:
            self._send(subject, data, headers, msg_id, msg_ttl, OP_COMMIT)
        else:
            if self.seq == 0:
                self.close()
                raise BadArgumentError("a fast batch needs at least one message to commit")
            self._send(self._last_subject, b"", None, None, None, OP_COMMIT_EOB)
        try:
            self._await(lambda: self.ack is not None, "the batch's PubAck")
        finally:
            self.close()
        assert self.ack is not None
        return self.ack

    def close(self) -> None:
        """Stop listening for the batch's acks (a batch not committed is dropped later)."""
        if not self._closed:
            self._closed = True
            self._sub.unsubscribe()

    # --- the control channel ----------------------------------------------------------------

    def _send(self, subject: str, data: bytes, headers: Optional[HeadersLike],
              msg_id: Optional[str], msg_ttl: Union[int, float, str, None], op: int) -> None:
        if type(data) is not bytes:
            raise BadArgumentError(f"batch data must be bytes, got {type(data).__name__}")
        seq = self.seq + 1
        h = (None if headers is None and msg_id is None and msg_ttl is None
             else publish_headers(headers, msg_id, None, None, None, None, msg_ttl))
        # nc.publish checks the subject (BadSubjectError) before anything is sent, so a
        # refused message leaves no gap in the batch sequence.
        self._nc.publish(subject, data, f"{self._reply_head}{seq}.{op}.$FI", headers=h)
        self.seq = seq
        self._last_subject = subject
        if op != OP_COMMIT_EOB:
            self._last_data_seq = seq

    def _ping(self) -> None:
        """Ask for the latest flow ack; the sequence is the last *stored* message's, so an
        end-of-batch commit (not itself stored) is not mistaken for a gap."""
        self._nc.publish(self._last_subject, b"",
                         f"{self._reply_head}{self._last_data_seq}.{OP_PING}.$FI")

    def _drain(self) -> None:
        """Handle the control messages already received, without waiting."""
        for _ in range(self._sub.pending_msgs + 1):
            try:
                msg = self._sub.next_msg(0)
            except NatsTimeoutError:
                return
            self._handle(msg)

    def _await(self, done: Any, what: str) -> None:
        """Handle control messages until `done()`; ping when they stop; fail at timeout."""
        deadline = time.monotonic() + self._timeout
        while True:
            self._raise_failure()
            if done():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise NoStreamResponseError(
                    f"nats: no answer from JetStream for fast batch {self.batch_id!r} "
                    f"while waiting for {what} within {self._timeout}s")
            try:
                msg = self._sub.next_msg(min(remaining, PING_INTERVAL))
            except NatsTimeoutError:
                if self._last_data_seq:
                    self._ping()  # acks may have been lost: ask for the latest again
                continue
            self._handle(msg)

    def _raise_failure(self) -> None:
        """Raise (once, closing the batch) what the server reported as ending the batch."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            self.close()
            raise failure

    def _handle(self, msg: Msg) -> None:
        try:
            body = json.loads(msg.data) if msg.data else None
        except ValueError:
            body = None
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "ack":
            assert isinstance(body, dict)
            self._started = True
            self.acked = max(self.acked, int(body.get("seq", 0)))
            self._every = max(1, int(body.get("msgs", 1)))
        elif kind == "gap":
            assert isinstance(body, dict)
            gap = (int(body.get("last_seq", 0)), int(body.get("seq", 0)))
            self.gaps.append(gap)
            if not self._gap_ok and self._failure is None:
                self._failure = FastBatchGapError(*gap)
        elif kind == "err":
            assert isinstance(body, dict)
            err = body.get("error")
            error = (APIError.from_error(err, f"fast batch message {body.get('seq')}")
                     if isinstance(err, dict) else APIError(description=str(err)))
            self.errors.append((int(body.get("seq", 0)), error))
            if not self._gap_ok and self._failure is None:
                self._failure = error
        else:
            try:
                self.ack = pub_ack(msg)
            except Exception as exc:  # the batch was refused: the PubAck carries the error
                self._failure = exc
            self._started = True

    def _check_open(self) -> None:
        if self._closed:
            raise Error("nats: this fast batch is already committed or closed")

    def __enter__(self) -> FastBatch:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]],
                 exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        if exc_type is not None or self._closed:
            self.close()
        elif self.seq:
            self.commit()
        else:
            self.close()
