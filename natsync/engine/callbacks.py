"""The connection callbacks thread: error_cb, disconnected_cb, reconnected_cb, ... run
there one at a time and in order, never on the reader or the flusher."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Optional

from . import threads

log = logging.getLogger("natsync")

class Callbacks:
    """A queue of user callbacks and the thread that runs them."""

    def __init__(self, error_cb: Optional[Callable[..., Any]]) -> None:
        self._error_cb = error_cb
        self._queue: queue.SimpleQueue[Optional[Callable[[], Any]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="natsync-callbacks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def schedule(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the callbacks thread, after those scheduled before it."""
        self._queue.put(lambda: fn(*args))

    def report_error(self, err: Exception) -> None:
        """Hand an asynchronous error to error_cb (or the log when there is none)."""
        if self._error_cb is not None:
            self.schedule(self._error_cb, err)
        else:
            log.error("natsync: %s", err)

    def stop(self) -> None:
        """Run what is queued, then end the thread and join it (unless called from it)."""
        self._queue.put(None)
        threads.join(self._thread)

    def is_current(self) -> bool:
        """Whether the caller is the callbacks thread (a callback calling close())."""
        return threads.is_current(self._thread)

    def _run(self) -> None:
        while True:
            fn = self._queue.get()
            if fn is None:
                return
            try:
                fn()
            except Exception:
                log.exception("natsync: a connection callback raised")
