"""Long-running loops for worker processes: a responder and a JetStream work-queue worker.

Both stop cleanly on SIGINT or SIGTERM: the signal only sets a flag, the loop notices it
within `poll` seconds, finishes (and acks) the message in hand, and drains. Used by the
Django management commands and examples/js_worker_processes.py.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
import time
from types import FrameType, TracebackType
from typing import Any, Callable, Optional

from ..client import Client
from ..errors import Error, TimeoutError
from ..js.api import AckPolicy
from ..js.errors import ConsumerNotFoundError
from ..msg import Msg

log = logging.getLogger("natsync.contrib")

Handler = Callable[[Msg], Any]


class HandlerImportError(Error, ImportError):
    """A `module.attribute` handler path cannot be imported or is not callable."""


def import_handler(path: str) -> Handler:
    """The callable named by a dotted path such as `myapp.handlers.resize`."""
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise HandlerImportError(f"handler {path!r} must be a dotted path: module.function")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise HandlerImportError(f"cannot import handler {path!r}: {exc}") from exc
    if not callable(target):
        raise HandlerImportError(f"handler {path!r} is a {type(target).__name__}, not callable")
    return target  # type: ignore[no-any-return]


class StopSignals:
    """While in the `with` block, SIGINT and SIGTERM set `.stopping` instead of killing.

    Handlers are installed only on the main thread (elsewhere call `.stop()` yourself);
    the previous ones are restored on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._event = threading.Event()
        self._previous: dict[int, Any] = {}
        self.signal_name: Optional[str] = None

    @property
    def stopping(self) -> bool:
        return self._event.is_set()

    def stop(self) -> None:
        self._event.set()

    def _on_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        self.signal_name = signal.Signals(signum).name
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds or until stopped; True once stopping."""
        deadline = time.monotonic() + timeout
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return self.stopping

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


def reply_of(result: Any) -> Optional[bytes]:
    """The reply a handler's return value asks for: bytes or str are sent, others are not."""
    if isinstance(result, str):
        return result.encode()
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result)
    return None


def listen(nc: Client, subject: str, handler: Handler, stop: StopSignals,
           queue: str = "", say: Callable[[str], object] = log.info) -> int:
    """Run `handler(msg)` for each message on `subject` until stopped; return how many.

    A bytes or str result is sent as the reply when the message has a reply subject; an
    exception is logged and the loop goes on (a requester then times out).
    """
    handled = 0

    def on_msg(msg: Msg) -> None:
        nonlocal handled
        try:
            answer = reply_of(handler(msg))
        except Exception:
            log.exception("natsync: handler for %r raised", msg.subject)
            return
        if answer is not None and msg.reply:
            msg.respond(answer)
        handled += 1

    sub = nc.subscribe(subject, queue=queue, cb=on_msg)
    nc.flush()
    say(f"Listening on {subject!r}" + (f" in queue group {queue!r}" if queue else "") + ".")
    while not stop.wait(3600.0):
        pass
    sub.drain()
    say(f"Stopped on {stop.signal_name or 'request'} after handling {handled} message(s).")
    return handled


def work(nc: Client, stream: str, consumer: str, handler: Handler, stop: StopSignals,
         max_messages: int = 10, poll: float = 0.25,
         say: Callable[[str], object] = log.info) -> int:
    """Consume a JetStream pull consumer with `messages()`: handle, then ack; nak on error.

    Creates the durable consumer (explicit acks) if it does not exist. When stopped, the
    message in hand is finished and acked, prefetched ones are nak'd for redelivery to
    other workers, and the count of handled messages is returned.
    """
    js = nc.jetstream()
    handle = js.stream(stream)
    try:
        target = handle.consumer(consumer)
    except ConsumerNotFoundError:
        target = handle.create_consumer(durable_name=consumer, ack_policy=AckPolicy.EXPLICIT)
    done = 0
    messages = target.messages(max_messages=max_messages)
    say(f"Working on {stream}/{consumer}.")
    try:
        while not stop.stopping:
            try:
                msg = messages.next(timeout=poll)
            except TimeoutError:
                continue
            if msg is None:
                break
            try:
                handler(msg)
            except Exception:
                log.exception("natsync: handler failed on %s; nak'd for redelivery", msg.subject)
                msg.nak()
                continue
            try:
                msg.ack_sync()
            except Error:  # e.g. the server restarted: JetStream redelivers it
                log.warning("natsync: ack of %s not confirmed; it may be redelivered", msg.subject)
            done += 1
    finally:
        messages.stop()
        _nak_prefetched(messages)
    say(f"Stopped on {stop.signal_name or 'request'} after {done} message(s), all acked.")
    return done


def _nak_prefetched(messages: Any) -> None:
    """Hand back what was delivered but not handled, so another worker gets it at once."""
    for _ in range(10_000):
        try:
            msg = messages.next(timeout=0.01)
        except (TimeoutError, Error):
            return
        if msg is None:
            return
        msg.nak()


__all__ = ["HandlerImportError", "StopSignals", "import_handler", "listen", "reply_of", "work"]
