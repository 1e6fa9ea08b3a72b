"""Reaching a server of the pool: the first connect, the reconnect attempts and the waits
between them, and the authenticators tried in turn. Each success is a new Session."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Optional

from ..errors import (
    AuthorizationError,
    BadArgumentError,
    NoServersError,
    TimeoutError,
    UnexpectedEOF,
)
from ..options import Options
from ..servers import Server, ServerPool, wait_before
from .handshake import open_session
from .session import Session

log = logging.getLogger("natsync")


#: Opens one session (TCP, TLS, websocket, handshake): the transport, swappable in tests.
Opener = Callable[[Server, Options], Session]


class Dialer:
    """Opens sessions to the servers of one pool, the way the options say."""

    def __init__(self, pool: ServerPool, options: Options,
                 on_failure: Callable[[Exception], None],
                 report_error: Callable[[Exception], None],
                 opener: Opener = open_session) -> None:
        self.pool = pool
        self._options = options
        self._opener = opener
        self._on_failure = on_failure  # a failed attempt's error: the client's last_error
        self._report_error = report_error
        self._auth_index = 0  # the authenticator that last worked
        self._attempts = 0  # reconnect attempts since the last session, for the delay handler

    def connect(self) -> Optional[Session]:
        """The first connection: each server once. None if none answered and the options
        say to keep trying in the background; else the most useful error is raised."""
        errors: list[Exception] = []
        for _ in range(len(self.pool)):
            srv = self.pool.next()
            if srv is None:
                break
            srv.last_attempt = time.monotonic()
            try:
                session = self._open(srv, first=True)
            except Exception as exc:
                log.debug("connect to %s failed: %s", srv.url, exc)
                srv.reconnects += 1
                errors.append(exc)
                continue
            srv.did_connect = True
            srv.reconnects = 0
            return session
        if self._options.retry_on_failed_connect and self._options.allow_reconnect:
            return None
        if not errors:
            raise NoServersError()
        # A credential or TLS problem is more useful than "no servers".
        for failure in errors:
            if not isinstance(failure, (OSError, TimeoutError, UnexpectedEOF)):
                raise failure
        raise NoServersError(f"nats: no servers available for connection "
                             f"({errors[-1]})") from errors[-1]

    def reconnect(self, stop: threading.Event, info: dict[str, Any]) -> Session:
        """Cycle through the pool until a server accepts and return the new session; `info`
        is the last INFO, for the reconnect_to_server hook. Raises NoServersError when the
        pool runs out, InterruptedError once `stop` is set."""
        opts = self._options
        while not stop.is_set():
            choice = self._choose(info)
            if choice is None:
                raise NoServersError()
            srv, delay = choice
            if delay > 0 and stop.wait(delay):
                break
            self._attempts += 1
            srv.last_attempt = time.monotonic()
            try:
                session = self._open(srv, first=False)
            except AuthorizationError as exc:
                self._on_failure(exc)
                self._report_error(exc)
                srv.reconnects += 1
                srv.auth_errors += 1
                if srv.auth_errors >= 2 and not opts.ignore_auth_error_abort:
                    self.pool.remove(srv)
                continue
            except Exception as exc:
                log.debug("reconnect to %s failed: %s", srv.url, exc)
                self._on_failure(exc)
                srv.reconnects += 1
                continue
            if stop.is_set():
                session.close()
                break
            srv.reconnects = srv.auth_errors = 0
            srv.did_connect = True
            self._attempts = 0
            return session
        raise InterruptedError("nats: the client is closing")

    def _choose(self, info: dict[str, Any]) -> Optional[tuple[Server, float]]:
        """The server to try next and how long to wait first; None when the pool is empty.
        Servers that used up max_reconnect_attempts leave the pool first."""
        opts = self._options
        for spent in self.pool:
            if 0 <= opts.max_reconnect_attempts <= spent.reconnects:
                self.pool.remove(spent)
        if opts.reconnect_to_server is not None:
            chosen = self._ask_hook(opts.reconnect_to_server, info)
            if chosen is not None:
                return chosen
        srv = self.pool.next()
        if srv is None:
            return None
        if opts.reconnect_delay_handler is not None and srv.last_attempt:
            return srv, float(opts.reconnect_delay_handler(self._attempts))
        jitter = opts.reconnect_jitter_tls if (opts.tls or srv.wants_tls) else opts.reconnect_jitter
        return srv, wait_before(srv, opts.reconnect_time_wait, jitter)

    def _ask_hook(self, hook: Callable[[list[str], dict[str, Any]], Optional[tuple[str, float]]],
                  info: dict[str, Any]) -> Optional[tuple[Server, float]]:
        """The hook's choice, if it made a usable one (else the error goes to error_cb and
        the default rotation decides)."""
        urls = [s.url for s in self.pool]
        if not urls:
            return None
        try:
            choice = hook(urls, dict(info))
            if choice is None:
                return None
            url, delay = choice
            srv = self.pool.find(url)
            if srv is None:
                raise BadArgumentError(f"reconnect_to_server chose {url!r}, which is not in the "
                                       f"server pool {urls}")
            return srv, max(0.0, float(delay))
        except Exception as exc:
            self._report_error(exc)
            return None

    def _open(self, srv: Server, first: bool) -> Session:
        """Handshake with `srv`. With a list of authenticators, the first connect tries each
        in turn; reconnects start from the one that last worked and move on after a refusal."""
        auths = self._options.authenticators()
        if len(auths) <= 1:
            return self._opener(srv, self._options)
        tries = len(auths) if first else 1
        for k in range(tries):
            index = (self._auth_index + k) % len(auths)
            try:
                session = self._opener(srv, replace(self._options, authenticator=auths[index]))
            except AuthorizationError:
                if k + 1 == tries:
                    self._auth_index = (index + 1) % len(auths)
                    raise
                continue
            self._auth_index = index
            return session
        raise AssertionError("unreachable")  # pragma: no cover
