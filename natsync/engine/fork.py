"""Fork detection: a connection belongs to the process that opened it.

After fork() the child shares the parent's socket but none of its threads; a client used
there would interleave bytes with the parent's. Each client holds a `ForkGuard`; every
guard still registered is tripped in a forked child, and the client's calls then raise
ForkError instead.
"""

from __future__ import annotations

import os
import weakref

from ..errors import ForkError

FORK_MESSAGE = ("nats: this client was created in another process; connections do not "
                "survive fork(). Create the client in the child (e.g. in gunicorn's "
                "post_fork hook or Celery's worker_process_init signal)")

_guards: weakref.WeakSet[ForkGuard] = weakref.WeakSet()


class ForkGuard:
    """Whether this process is a fork of the one that opened the connection.

    `forked` is a plain attribute so hot paths can test it for the price of a read.
    """

    __slots__ = ("forked", "__weakref__")

    def __init__(self) -> None:
        self.forked = False
        _guards.add(self)

    def check(self) -> None:
        """Raise ForkError in a forked child."""
        if self.forked:
            raise ForkError(FORK_MESSAGE)

    def release(self) -> None:
        """The connection is closed: a later fork has nothing to protect."""
        _guards.discard(self)


def _trip_all() -> None:
    for guard in list(_guards):
        guard.forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_trip_all)
