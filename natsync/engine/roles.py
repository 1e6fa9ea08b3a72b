"""Which engine thread the caller is: user code must never run on a reader thread."""

from __future__ import annotations

import threading

_local = threading.local()


def mark_reader() -> None:
    """Called once by each client's reader thread when it starts."""
    _local.reader = True


def on_reader() -> bool:
    """Whether the calling thread is a reader thread (of any client)."""
    return getattr(_local, "reader", False)
