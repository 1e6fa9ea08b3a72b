"""Atomic batch publish (ADR-50): up to 1,000 messages stored all together or not at all.

Each message carries `Nats-Batch-Id` and `Nats-Batch-Sequence`; the last also carries
`Nats-Batch-Commit: 1`. The first is sent as a request so a stream without `allow_atomic`
is reported at once; the middle ones are plain publishes; the commit waits for the PubAck.
The batch keeps the latest added message back, so the commit can ride on it.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Optional, Union

from ..errors import BadArgumentError, Error, NoRespondersError
from ..errors import TimeoutError as NatsTimeoutError
from ..headers import Headers, HeadersLike
from ..nuid import next_nuid
from ..subjects import check_subject
from . import api
from .errors import APIError, BatchTooLargeError, NoStreamResponseError
from .features import ATOMIC_BATCH, require
from .publish import pub_ack, publish_headers

if TYPE_CHECKING:
    from ..client import Client
    from ..msg import Msg

BATCH_ID_HEADER = "Nats-Batch-Id"
BATCH_SEQ_HEADER = "Nats-Batch-Sequence"
BATCH_COMMIT_HEADER = "Nats-Batch-Commit"

#: The server's limit on the messages of one atomic batch.
MAX_ATOMIC_BATCH = 1000


def batch_headers(headers: Optional[HeadersLike], msg_id: Optional[str],
                  msg_ttl: Union[int, float, str, None], batch_id: str, seq: int,
                  commit: bool) -> Headers:
    """A batch message's headers: the user's, Nats-Msg-Id / Nats-TTL, and the batch ones."""
    h = publish_headers(headers, msg_id, None, None, None, None, msg_ttl) or Headers()
    h[BATCH_ID_HEADER] = batch_id
    h[BATCH_SEQ_HEADER] = str(seq)
    if commit:
        h[BATCH_COMMIT_HEADER] = "1"
    return h


class AtomicBatch:
    """`js.atomic_batch()`: add messages, then `commit()` (or leave the `with` block).

    An exception inside the `with` block abandons the batch: nothing is committed and
    the server drops what it staged after its batch timeout. `ack` is the commit's
    PubAck (`seq` of the last message, `batch_id`, `batch_size`).
    """

    def __init__(self, nc: Client, timeout: float, batch_id: Optional[str] = None) -> None:
        require(nc, ATOMIC_BATCH)
        self._nc = nc
        self._timeout = timeout
        self.batch_id = batch_id or next_nuid()
        if not 0 < len(self.batch_id) <= 64:
            raise BadArgumentError(f"batch id must be 1 to 64 characters, got {self.batch_id!r}")
        self.count = 0
        self.ack: Optional[api.PubAck] = None
        self._held: Optional[tuple[str, bytes, Optional[HeadersLike], Optional[str],
                                   Union[int, float, str, None]]] = None
        self._done = False

    def add(self, subject: str, data: bytes = b"", headers: Optional[HeadersLike] = None,
            msg_id: Optional[str] = None, msg_ttl: Union[int, float, str, None] = None) -> int:
        """Add a message; returns its place in the batch (1, 2, ...)."""
        self._check_open()
        check_subject(subject)
        if not isinstance(data, bytes):
            raise BadArgumentError(f"batch data must be bytes, got {type(data).__name__}")
        if self.count >= MAX_ATOMIC_BATCH:
            raise BatchTooLargeError(f"nats: an atomic batch holds at most {MAX_ATOMIC_BATCH} "
                                     "messages; commit this one and start another")
        if self._held is not None:
            try:
                self._send(*self._held, commit=False)
            except BaseException:
                self._done = True  # a message that could not be sent breaks the batch
                raise
        self.count += 1
        self._held = (subject, data, headers, msg_id, msg_ttl)
        return self.count

    def commit(self) -> api.PubAck:
        """Send the last message with the commit header and wait for the batch's PubAck."""
        self._check_open()
        if self._held is None:
            raise BadArgumentError("an atomic batch needs at least one message to commit")
        held, self._held = self._held, None
        self._done = True
        reply = self._send(*held, commit=True)
        assert reply is not None
        ack = pub_ack(reply)
        self.ack = ack
        return ack

    def discard(self) -> None:
        """Abandon the batch: nothing more is sent and the server never commits it."""
        self._held = None
        self._done = True

    def _check_open(self) -> None:
        if self._done:
            raise Error("nats: this atomic batch is already committed or discarded")

    def _send(self, subject: str, data: bytes, headers: Optional[HeadersLike],
              msg_id: Optional[str], msg_ttl: Union[int, float, str, None],
              commit: bool) -> Optional[Msg]:
        seq = self.count  # the held message is always the latest one counted
        h = batch_headers(headers, msg_id, msg_ttl, self.batch_id, seq, commit)
        if seq != 1 and not commit:
            self._nc.publish(subject, data, headers=h)
            return None
        try:
            reply = self._nc.request(subject, data, timeout=self._timeout, headers=h)
        except NoRespondersError:
            self._done = True
            raise NoStreamResponseError(f"nats: no stream is listening on {subject!r}") from None
        except NatsTimeoutError:
            self._done = True
            raise NoStreamResponseError(
                f"nats: no answer from JetStream to atomic batch {self.batch_id!r}") from None
        if not commit and reply.data:
            self._done = True  # the server refused the batch's first message
            pub_ack(reply)
            raise APIError(description=f"unexpected answer to a batch start: {reply.data[:80]!r}")
        return reply

    def __enter__(self) -> AtomicBatch:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]],
                 exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        if exc_type is not None:
            self.discard()
        elif not self._done and self._held is not None:
            self.commit()
