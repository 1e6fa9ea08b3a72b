"""The engine's threads: how close() joins them, and which one is a reader.

User code must never run on a reader thread; a part that might run it (a future's
done-callback) asks `on_reader()` first.
"""

from __future__ import annotations

import threading
from typing import Optional

#: How long close() waits for each thread: a callback stuck for good cannot hang it.
JOIN_TIMEOUT = 5.0

_local = threading.local()


def join(thread: Optional[threading.Thread]) -> None:
    """Join `thread` (bounded by JOIN_TIMEOUT) unless it is the caller or never ran."""
    if thread is not None and thread.is_alive() and thread is not threading.current_thread():
        thread.join(JOIN_TIMEOUT)


def is_current(thread: threading.Thread) -> bool:
    return threading.current_thread() is thread


def mark_reader() -> None:
    """Called once by each client's reader thread when it starts."""
    _local.reader = True


def on_reader() -> bool:
    """Whether the calling thread is a reader thread (of any client)."""
    return getattr(_local, "reader", False)
