"""The engine's threads: how close() joins them, and which one is a reader.

User code must never run on a reader thread; a part that might run it (a future's
done-callback) asks `on_reader()` first. Readers are known by `threading.get_ident()`,
looked up at each call: under gevent's monkey-patching, applied after natsync was
imported, that is the greenlet's id, where a `threading.local` made at import would be
shared by every greenlet.
"""

from __future__ import annotations

import sys
import threading
from typing import Optional

from ..errors import Error

#: How long close() waits for each thread: a callback stuck for good cannot hang it.
JOIN_TIMEOUT = 5.0

#: Whether this interpreter runs with the GIL: every build but free-threaded CPython
#: (3.13t) with the GIL left off. The engine's waits, writes and tokens choose by it.
GIL: bool = getattr(sys, "_is_gil_enabled", lambda: True)()

_readers: set[int] = set()


def join(thread: Optional[threading.Thread]) -> None:
    """Join `thread` (bounded by JOIN_TIMEOUT) unless it is the caller or never ran."""
    if thread is not None and thread.is_alive() and thread is not threading.current_thread():
        thread.join(JOIN_TIMEOUT)


def is_current(thread: threading.Thread) -> bool:
    return threading.current_thread() is thread


def mark_reader(running: bool) -> None:
    """Called by each client's reader thread when it starts (True) and ends (False)."""
    if running:
        _readers.add(threading.get_ident())
    else:
        _readers.discard(threading.get_ident())


def on_reader() -> bool:
    """Whether the calling thread is a reader thread (of any client)."""
    return threading.get_ident() in _readers


#: What gevent must patch together for natsync's threads to be greenlets that wait on
#: cooperative sockets and locks.
_TOGETHER = ("socket", "threading", "select", "ssl", "time")


def check_patching() -> None:
    """Refuse a half monkey-patched process (gevent patches some modules, not others):
    real threads on cooperative sockets, or greenlets on blocking ones, hang. Error names
    what is missing; `gevent.monkey.patch_all()` patches them all."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None:
        return
    patched = {name for name in _TOGETHER if monkey.is_module_patched(name)}
    if patched and patched != set(_TOGETHER):
        missing = ", ".join(sorted(set(_TOGETHER) - patched))
        raise Error(f"nats: gevent has patched {', '.join(sorted(patched))} but not {missing}; "
                    f"natsync needs them patched together: call gevent.monkey.patch_all() "
                    f"before anything else is imported (gunicorn -k gevent and "
                    f"celery -P gevent do)")
