"""Unique, subject-safe identifiers for inboxes (a random prefix and a sequence, like NUID)."""

from __future__ import annotations

import os
import secrets
import threading

_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE = len(_DIGITS)
_PREFIX_LEN = 12
_SEQ_LEN = 10
_MAX_SEQ = _BASE ** _SEQ_LEN


class NUID:
    """Generates 22-character ids; the prefix is re-randomised when the sequence runs out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._prefix = "".join(secrets.choice(_DIGITS) for _ in range(_PREFIX_LEN))
        self._seq = secrets.randbelow(_MAX_SEQ // 2)
        self._inc = 33 + secrets.randbelow(300)

    def next(self) -> str:
        """A new id, never returned before by this generator."""
        with self._lock:
            self._seq += self._inc
            if self._seq >= _MAX_SEQ:
                self._reset()
            seq = self._seq
            prefix = self._prefix
        digits = []
        for _ in range(_SEQ_LEN):
            seq, rem = divmod(seq, _BASE)
            digits.append(_DIGITS[rem])
        return prefix + "".join(digits)

    def reseed_after_fork(self) -> None:
        """In a forked child: start afresh, for a child must not repeat its parent's ids
        (its inboxes would get their replies), with a new lock (another thread may have
        held this one at fork time)."""
        self._lock = threading.Lock()
        self._reset()


_global = NUID()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_global.reseed_after_fork)


def next_nuid() -> str:
    """A new process-wide unique id."""
    return _global.next()
