"""Dead letters: the messages a consumer gave up on, from the server's advisories.

When a message runs out of deliveries (`max_deliver`) the server publishes an advisory on
`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`; when a handler calls
`msg.term()`, one on `...CONSUMER.MSG_TERMINATED.<stream>.<consumer>`. Each names the
message's stream sequence, so the message itself can be read back from the stream: the
dead-letter pattern of the NATS documentation. `DeadLetters` listens to both and yields a
`DeadLetter` per advisory with the stored message attached (None once the stream no
longer holds it: a work-queue or interest stream removes a terminated message at once).
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from ..errors import BadArgumentError, ConnectionClosedError, SlowConsumerError
from ..msg import Msg
from . import api
from .errors import MsgNotFoundError
from .mailbox import Mailbox, Reader
from .model import parse_time

if TYPE_CHECKING:
    from .manager import JetStreamManager

MAX_DELIVERIES = "max_deliveries"
TERMINATED = "terminated"
_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER"
_KINDS = {MAX_DELIVERIES: "MAX_DELIVERIES", TERMINATED: "MSG_TERMINATED"}
#: Advisories kept unread by default before more are dropped (and counted).
DEFAULT_MAX_PENDING = 1000


@dataclass(frozen=True)
class DeadLetter:
    """A message `consumer` gave up on: why (`kind` "max_deliveries" or "terminated",
    with the `reason` given to `term()`), after how many `deliveries`, and the stored
    message (`msg`, None when the stream no longer holds sequence `stream_seq`)."""

    kind: str
    stream: str
    consumer: str
    stream_seq: int
    deliveries: int
    reason: str = ""
    ts: Optional[_dt.datetime] = None
    msg: Optional[api.RawStreamMsg] = None
    advisory: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class DeadLetters(Reader[DeadLetter]):
    """A consumer's dead letters as a blocking iterator, or handed to `cb` on a thread.

    Listening starts at once (advisories are not stored: messages that died before are
    not seen). At most `max_pending` advisories wait unread; beyond that the oldest is
    dropped, counted in `dropped` and reported to `error_cb` as a SlowConsumerError.
    `next(timeout)` raises TimeoutError when none comes in time; iteration ends, and
    `next()` returns None, after `close()`. With `cb`, `cb(dead_letter)` runs for each on the
    `natsync-js-deadletters` thread until `close()`, which joins it.
    """

    def __init__(self, jsm: JetStreamManager, stream: str, consumer: str,
                 cb: Optional[Callable[[DeadLetter], Any]] = None,
                 max_pending: int = DEFAULT_MAX_PENDING) -> None:
        if cb is not None and not callable(cb):
            raise BadArgumentError(f"cb must be callable, not {type(cb).__name__}")
        jsm.consumer_info(stream, consumer)  # names a missing stream or consumer now
        self._jsm = jsm
        self._nc = jsm.nc
        self.stream = stream
        self.consumer = consumer
        self._box: Mailbox[tuple[str, bytes]] = Mailbox(max_pending, "dead letter")
        self._subs = [self._nc.subscribe(f"{_ADVISORY}.{subject}.{stream}.{consumer}",
                                         cb=self._arrived)
                      for subject in _KINDS.values()]
        self._cb = cb
        self._thread: Optional[threading.Thread] = None
        if cb is not None:
            self._thread = threading.Thread(target=self._run, name="natsync-js-deadletters",
                                            daemon=True)
            self._thread.start()
        self._nc.add_close_hook(self.close)

    def _arrived(self, msg: Msg) -> None:
        """An advisory (on its subscription's thread): queue it, dropping the oldest if full."""
        if self._box.put((msg.subject, msg.data)):
            self._nc.report_error(SlowConsumerError(
                f"nats: dead letters of {self.stream}/{self.consumer}: too many unread, "
                "the oldest advisory was dropped"))

    def next(self, timeout: Optional[float] = None) -> Optional[DeadLetter]:
        """The next dead letter with its message read from the stream; None once closed;
        TimeoutError if `timeout` seconds pass first."""
        item = self._box.get(timeout)
        return None if item is None else self._letter(*item)

    def _letter(self, subject: str, data: bytes) -> DeadLetter:
        """A DeadLetter from an advisory, with the message fetched by its sequence."""
        adv: Dict[str, Any] = json.loads(data)
        kind = TERMINATED if f".{_KINDS[TERMINATED]}." in subject else MAX_DELIVERIES
        seq = int(adv.get("stream_seq", 0))
        stamp = adv.get("timestamp")
        try:
            stored: Optional[api.RawStreamMsg] = self._jsm.get_msg(self.stream, seq)
        except MsgNotFoundError:
            stored = None
        return DeadLetter(kind=kind, stream=self.stream, consumer=self.consumer, stream_seq=seq,
                          deliveries=int(adv.get("deliveries", 0)),
                          reason=str(adv.get("reason", "")),
                          ts=parse_time(stamp) if isinstance(stamp, str) else None,
                          msg=stored, advisory=adv)

    def _run(self) -> None:
        """The callback thread: each dead letter to `cb`, errors to `error_cb`."""
        assert self._cb is not None
        while True:
            try:
                letter = self.next()
                if letter is None:
                    return
                self._cb(letter)
            except ConnectionClosedError:
                return
            except Exception as exc:
                self._nc.report_error(exc)

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening; the iteration ends after what was queued, the thread is joined."""
        self._box.close()
        for sub in self._subs:
            if sub.is_valid and not self._nc.is_closed:
                try:
                    sub.unsubscribe()
                except Exception:  # ended with the connection
                    pass
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._nc.remove_close_hook(self.close)
