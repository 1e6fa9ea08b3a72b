"""One natsync client per process, for web apps and pre-fork servers.

`ProcessClient` connects on first use, connects anew in a forked child (the parent's
client is dropped there, never used or closed), and drains its client at interpreter exit
and, when nothing else handles it, on SIGTERM. The Django and Flask integrations both use
it; see docs/gunicorn.md for what happens under gunicorn, uWSGI and `--preload`.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any, Callable, Mapping, Optional, Tuple, Union

from ..client import Client, connect
from .config import ConfigError, Servers, check_config

log = logging.getLogger("natsync.contrib")

#: `sigterm=` values: install only when SIGTERM still has its default action; install
#: and chain to whatever handler was there; never install.
SIGTERM_AUTO, SIGTERM_CHAIN, SIGTERM_OFF = "auto", "chain", "off"

Loader = Callable[[], Tuple[Servers, Mapping[str, Any]]]
_Handler = Union[Callable[[int, Optional[FrameType]], Any], int, None]

#: Every holder made: kept alive so that atexit drains a client even if its holder was dropped.
_holders: list[ProcessClient] = []


class ProcessClient:
    """A lazily connected client per process, shared by the threads of that process.

    `servers` and `options` are what `natsync.connect()` takes; they are checked at once
    (ConfigError). Or `loader()` returns them when the first client is made (for settings
    that are not ready at import time). `.client` is this process's client; `.close()`
    drains it.
    """

    def __init__(self, servers: Servers = None, *, sigterm: str = SIGTERM_AUTO,
                 loader: Optional[Loader] = None, **options: Any) -> None:
        if sigterm not in (SIGTERM_AUTO, SIGTERM_CHAIN, SIGTERM_OFF):
            raise ConfigError(f"sigterm must be 'auto', 'chain' or 'off', not {sigterm!r}")
        if loader is not None and (servers is not None or options):
            raise ConfigError("pass either a loader or servers/options, not both")
        if loader is None:
            check_config(servers, options)
        self._config: Optional[tuple[Servers, Mapping[str, Any]]] = (
            None if loader is not None else (servers, dict(options)))
        self._loader = loader
        self.sigterm = sigterm
        self._lock = threading.Lock()
        self._client: Optional[Client] = None
        self._pid = 0  # the process that created _client
        self._signal_pid = 0  # the process this holder installed its SIGTERM handler in
        self.connections_made = 0  # in this process
        _holders.append(self)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _settings(self) -> tuple[Servers, Mapping[str, Any]]:
        """The servers and options, read (and checked) from the loader on first need."""
        if self._config is None:
            assert self._loader is not None
            servers, options = self._loader()
            check_config(servers, options)
            self._config = (servers, dict(options))
        return self._config

    @property
    def client(self) -> Client:
        """This process's client, connected on first use (again after a fork or a close)."""
        client = self._client
        if client is not None and self._pid == os.getpid() and not client.is_closed:
            return client
        with self._lock:
            client = self._client
            if client is None or self._pid != os.getpid() or client.is_closed:
                servers, options = self._settings()
                client = connect(servers, **options)
                self._client, self._pid = client, os.getpid()
                self.connections_made += 1
                self._install_sigterm()
            return client

    @property
    def owner_pid(self) -> Optional[int]:
        """The pid of the process that created the current client (None before the first)."""
        return self._pid if self._client is not None else None

    def close(self) -> None:
        """Drain this process's client, if it has one; a later `.client` connects again."""
        with self._lock:
            client, pid = self._client, self._pid
            if pid != os.getpid():
                return  # the parent's client: never touched in a child
            self._client = None
        if client is not None and not client.is_closed:
            try:
                client.drain()  # bounded by the drain_timeout option
            except Exception:  # a dead server or a timeout: closing is all that is left
                log.warning("natsync: draining the process client failed", exc_info=True)
                client.close()

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's client and any lock held at fork time."""
        self._client = None
        self._pid = 0
        self._lock = threading.Lock()
        self.connections_made = 0

    def _install_sigterm(self) -> None:
        if self.sigterm == SIGTERM_OFF or self._signal_pid == os.getpid():
            return
        if threading.current_thread() is not threading.main_thread():
            return  # signal.signal() only works there; atexit still drains
        previous: _Handler = signal.getsignal(signal.SIGTERM)
        if self.sigterm == SIGTERM_AUTO and previous is not signal.SIG_DFL:
            return  # the app (or gunicorn) handles SIGTERM: atexit drains when it exits
        signal.signal(signal.SIGTERM, self._sigterm_handler(previous))
        self._signal_pid = os.getpid()

    def _sigterm_handler(self, previous: _Handler) -> Callable[[int, Optional[FrameType]], None]:
        def on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
            # Drain on another thread: this one may have been interrupted inside the client.
            drainer = threading.Thread(target=self.close, name="natsync-sigterm-drain",
                                       daemon=True)
            drainer.start()
            drainer.join(float(self._settings()[1].get("drain_timeout", 30.0)) + 1)
            if callable(previous):
                previous(signum, frame)
            elif previous in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)
        return on_sigterm


def _drain_all() -> None:
    """At interpreter exit: drain every holder's client made in this process."""
    for holder in list(_holders):
        holder.close()


atexit.register(_drain_all)

__all__ = ["SIGTERM_AUTO", "SIGTERM_CHAIN", "SIGTERM_OFF", "ProcessClient"]
