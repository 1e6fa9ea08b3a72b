"""Acknowledged JetStream publishing: one at a time, or many in flight with futures."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable, Optional, Union

from ..errors import BadArgumentError, ConnectionClosedError, NoRespondersError
from ..errors import TimeoutError as NatsTimeoutError
from ..futures import LazyFuture
from ..headers import Headers, HeadersLike
from ..msg import Msg
from ..subjects import check_subject
from . import api
from .errors import APIError, NoStreamResponseError

if TYPE_CHECKING:
    from ..client import Client

#: Attempts and pause for a publish that finds no stream listening yet (ADR-22).
NO_RESPONDERS_ATTEMPTS = 3
NO_RESPONDERS_WAIT = 0.25


def format_ttl(seconds: Union[int, float, str]) -> str:
    """A Nats-TTL header value (ADR-43): whole seconds as "Ns", else milliseconds, or a string."""
    if isinstance(seconds, str):
        return seconds
    if seconds <= 0:
        raise BadArgumentError(f"msg_ttl must be positive, got {seconds!r}")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{int(round(seconds * 1000))}ms"


def publish_headers(headers: Optional[HeadersLike], msg_id: Optional[str],
                    expected_stream: Optional[str], expected_last_seq: Optional[int],
                    expected_last_subject_seq: Optional[int],
                    expected_last_msg_id: Optional[str],
                    msg_ttl: Union[int, float, str, None],
                    last_subject_seq_subject: Optional[str] = None) -> Optional[Headers]:
    """The user's headers plus the Nats-* headers the keyword shortcuts stand for.

    `last_subject_seq_subject` makes `expected_last_subject_seq` apply to the last message
    of that subject (wildcards allowed) instead of the published one.
    """
    extra: list[tuple[str, str]] = []
    if msg_id is not None:
        extra.append(("Nats-Msg-Id", msg_id))
    if expected_stream is not None:
        extra.append(("Nats-Expected-Stream", expected_stream))
    if expected_last_seq is not None:
        extra.append(("Nats-Expected-Last-Sequence", str(expected_last_seq)))
    if expected_last_subject_seq is not None:
        extra.append(("Nats-Expected-Last-Subject-Sequence", str(expected_last_subject_seq)))
    if last_subject_seq_subject is not None:
        if expected_last_subject_seq is None:
            raise BadArgumentError("expected_last_subject_seq_subject needs "
                                   "expected_last_subject_seq: it names whose last sequence "
                                   "that is")
        check_subject(last_subject_seq_subject, wildcards=True)
        extra.append(("Nats-Expected-Last-Subject-Sequence-Subject", last_subject_seq_subject))
    if expected_last_msg_id is not None:
        extra.append(("Nats-Expected-Last-Msg-Id", expected_last_msg_id))
    if msg_ttl is not None:
        extra.append(("Nats-TTL", format_ttl(msg_ttl)))
    if not extra:
        return Headers(headers) if headers is not None else None
    h = Headers(headers) if headers is not None else Headers()
    for k, v in extra:
        h[k] = v
    return h


# nats-server writes acks as {"stream":..,"seq":..[,"domain":..][,"duplicate":true]};
# matching that shape directly is several times cheaper than json.loads + from_response.
_ACK_SHAPE = re.compile(
    rb'\{"stream":"([^"\\]*)","seq":(\d+)(?:,"domain":"([^"\\]*)")?(,"duplicate":true)?\}')


def pub_ack(msg: Msg) -> api.PubAck:
    """The PubAck in a JetStream reply, or the APIError it carries."""
    if msg.headers is not None and msg.headers.status == 503:
        raise NoStreamResponseError("nats: no stream is listening on this subject (503)")
    m = _ACK_SHAPE.fullmatch(msg.data)
    if m is not None:
        stream, seq, domain, dup = m.groups()
        return api.PubAck(stream=stream.decode(), seq=int(seq),
                          domain=domain.decode() if domain is not None else None,
                          duplicate=dup is not None)
    try:
        resp = json.loads(msg.data)
    except ValueError:
        raise APIError(description=f"invalid publish ack: {msg.data[:80]!r}") from None
    if not isinstance(resp, dict):
        raise APIError(description=f"invalid publish ack: {msg.data[:80]!r}")
    if resp.get("error"):
        raise APIError.from_error(resp["error"])
    return api.PubAck.from_response(resp)


def publish_sync(nc: Client, subject: str, payload: bytes, timeout: float,
                 headers: Optional[Headers]) -> api.PubAck:
    """Publish and wait for the stream's ack, retrying briefly when no stream answers yet."""
    for attempt in range(NO_RESPONDERS_ATTEMPTS):
        try:
            reply = nc.request(subject, payload, timeout=timeout, headers=headers)
        except NoRespondersError:
            if attempt + 1 == NO_RESPONDERS_ATTEMPTS:
                raise NoStreamResponseError(
                    f"nats: no stream is listening on {subject!r} (no responders)") from None
            time.sleep(NO_RESPONDERS_WAIT)
            continue
        except NatsTimeoutError:
            raise NoStreamResponseError(
                f"nats: no ack from JetStream for {subject!r} within {timeout}s") from None
        return pub_ack(reply)
    raise AssertionError("unreachable")  # pragma: no cover


#: How a future hands its reply (or the error that ends it) to its publisher.
Arrival = Callable[["PubAckFuture", Union[Msg, Exception]], None]


class PubAckFuture(LazyFuture[api.PubAck]):
    """The future `publish_async` returns; it is also the in-flight entry the reader fills."""

    def __init__(self, arrived: Arrival, deadline: float) -> None:
        super().__init__()
        self._arrived = arrived
        self.token = ""
        self.deadline = deadline

    def deliver(self, msg: Msg) -> bool:
        self._arrived(self, msg)
        return True

    def fail(self, error: Exception) -> None:
        self._arrived(self, error)


class AsyncPublisher:
    """Publishes without waiting; a resolver thread turns acks into completed futures.

    At most `max_pending` publishes are in flight; `publish()` blocks while that many are.
    Futures complete (and their done-callbacks run) on the `natsync-js-acks` thread,
    never on the reader thread.
    """

    def __init__(self, nc: Client, max_pending: int, timeout: float) -> None:
        self._nc = nc
        self._max = max_pending
        self._timeout = timeout
        self._cond = threading.Condition(threading.Lock())
        # In publish order, so deadlines ascend (a dict is an ordered set with O(1) pop).
        self._inflight: dict[PubAckFuture, bool] = {}
        self._replies: deque[tuple[PubAckFuture, Union[Msg, Exception]]] = deque()
        self._sleeping = False
        self._stopping = False
        self._thread: Optional[threading.Thread] = None

    def _arrived(self, waiter: PubAckFuture, outcome: Union[Msg, Exception]) -> None:
        """Called on the reader thread: queue the reply, wake the resolver if it sleeps."""
        self._replies.append((waiter, outcome))
        if self._sleeping:
            with self._cond:
                self._sleeping = False  # one wake-up per sleep, not one per reply
                self._cond.notify_all()

    def publish(self, subject: str, payload: bytes, headers: Optional[Headers],
                timeout: Optional[float]) -> PubAckFuture:
        nc = self._nc
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._resolve, name="natsync-js-acks",
                                                daemon=True)
                self._thread.start()
                nc.add_close_hook(self.stop)
            while len(self._inflight) >= self._max:
                if self._stopping:
                    raise ConnectionClosedError()
                self._cond.wait(0.5)
            future = PubAckFuture(self._arrived, time.monotonic() + (timeout or self._timeout))
            self._inflight[future] = True
        try:
            future.token = nc.send_request(subject, payload, future, headers)
        except BaseException:
            with self._cond:
                self._inflight.pop(future, None)
                self._cond.notify_all()
            raise
        return future

    def pending(self) -> int:
        """Publishes still waiting for their ack."""
        return len(self._inflight)

    def completed(self, timeout: Optional[float]) -> bool:
        """Wait until every publish so far has its ack (or error); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._inflight:
                remaining = 1.0 if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _resolve(self) -> None:
        """The resolver thread: complete futures as acks arrive, or when they time out."""
        while True:
            with self._cond:
                self._sleeping = True
                while not self._replies and not self._stopping:
                    head = next(iter(self._inflight), None)
                    wait = 1.0 if head is None else head.deadline - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                self._sleeping = False
                stopping = self._stopping
            done: list[tuple[PubAckFuture, Union[Msg, Exception]]] = []
            while self._replies:
                done.append(self._replies.popleft())
            now = time.monotonic()
            with self._cond:
                for head in self._inflight:
                    if not stopping and head.deadline > now:
                        break
                    done.append((head, ConnectionClosedError() if stopping else
                                 NoStreamResponseError("nats: no ack from JetStream for an "
                                                       "async publish in time")))
            # Futures are completed before they leave the in-flight map, so that
            # publish_async_completed() returning means every future is done.
            for future, outcome in done:
                _settle(future, outcome)
            # Only this thread removes entries (dict.pop is atomic), so publishers that
            # insert under the lock are not held up while a large batch is retired.
            forget = self._nc.forget_request
            inflight = self._inflight
            for future, _ in done:
                if inflight.pop(future, False):
                    forget(future.token)
            with self._cond:
                self._cond.notify_all()
            if stopping and not self._inflight:
                return

    def stop(self) -> None:
        """Fail what is in flight and end the resolver thread (on client close)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)


def _settle(future: PubAckFuture, outcome: Union[Msg, Exception]) -> None:
    """Complete a future with the ack in `outcome`, or with the error it is."""
    if isinstance(outcome, Exception):
        future.settle(exception=outcome)
        return
    try:
        ack = pub_ack(outcome)
    except Exception as exc:
        future.settle(exception=exc)
    else:
        future.settle(ack)
