"""Connection options: nats-py's keyword names and defaults, times in seconds."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple, Union

from .errors import Error

Callback = Callable[..., Any]
#: fn(nonce) -> CONNECT auth fields (user, pass, auth_token, nkey, sig, jwt).
Authenticator = Callable[[Optional[str]], Mapping[str, Any]]
#: A .creds file's path, its contents (str holding the BEGIN lines, or bytes), or a
#: (jwt file, seed file) pair of paths.
Credentials = Union[str, bytes, bytearray, Tuple[str, str]]


@dataclass
class Options:
    """Everything `connect()` accepts besides `servers`; see docs/connecting.md."""

    name: Optional[str] = None
    pedantic: bool = False
    verbose: bool = False
    allow_reconnect: bool = True
    connect_timeout: float = 2.0
    reconnect_time_wait: float = 2.0
    max_reconnect_attempts: int = 60
    ping_interval: float = 120.0
    max_outstanding_pings: int = 2
    dont_randomize: bool = False
    flusher_queue_size: int = 1024
    no_echo: bool = False
    tls: Union[ssl.SSLContext, bool, None] = None
    tls_hostname: Optional[str] = None
    tls_handshake_first: bool = False
    user: Optional[str] = None
    password: Optional[str] = None
    token: Optional[str] = None
    drain_timeout: float = 30.0
    signature_cb: Optional[Callback] = None
    user_jwt_cb: Optional[Callback] = None
    user_credentials: Optional[Credentials] = None
    nkeys_seed: Optional[str] = None
    nkeys_seed_str: Optional[str] = None
    inbox_prefix: str = "_INBOX"
    pending_size: int = 2 * 1024 * 1024
    flush_timeout: Optional[float] = None
    error_cb: Optional[Callback] = None
    disconnected_cb: Optional[Callback] = None
    closed_cb: Optional[Callback] = None
    discovered_server_cb: Optional[Callback] = None
    reconnected_cb: Optional[Callback] = None
    lame_duck_mode_cb: Optional[Callback] = None
    # Beyond nats-py (nats.js / nats.go options):
    reconnect_jitter: float = 0.1
    reconnect_jitter_tls: float = 1.0
    reconnect_delay_handler: Optional[Callable[[int], float]] = None
    #: fn(server_urls, last_info) -> (url, delay) or None: picks the next server on
    #: reconnect (nats.go's ReconnectToServer); None keeps the default rotation.
    reconnect_to_server: Optional[Callable[[list[str], dict[str, Any]],
                                           Optional[Tuple[str, float]]]] = None
    retry_on_failed_connect: bool = False
    ignore_discovered_servers: bool = False
    ignore_auth_error_abort: bool = False
    max_control_line: int = 64 * 1024
    debug: bool = False
    authenticator: Union[Authenticator, Sequence[Authenticator], None] = None
    #: Extra HTTP headers of the websocket upgrade (auth at an ingress): a mapping, or a
    #: callable returning one at each connect.
    ws_headers: Union[Mapping[str, str], Callable[[], Mapping[str, str]], None] = None
    #: An HTTP proxy to reach the servers through (HTTP CONNECT): "http://[user:pass@]host:port".
    proxy: Optional[str] = None

    def __repr__(self) -> str:
        secret = {"password", "token", "nkeys_seed_str", "user_credentials", "nkeys_seed"}
        shown = ", ".join(f"{f.name}={'***' if f.name in secret and getattr(self, f.name) else getattr(self, f.name)!r}"
                          for f in fields(self))
        return f"Options({shown})"

    def validate(self) -> None:
        """Raise a clear error for values that cannot work."""
        for name in ("connect_timeout", "reconnect_time_wait", "ping_interval", "drain_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise Error(f"option {name} must be a positive number of seconds, got {value!r}")
        if self.flush_timeout is not None and self.flush_timeout <= 0:
            raise Error(f"option flush_timeout must be positive or None, got {self.flush_timeout!r}")
        if self.pending_size <= 0:
            raise Error(f"option pending_size must be positive, got {self.pending_size!r}")
        if self.max_outstanding_pings < 1:
            raise Error("option max_outstanding_pings must be at least 1")
        if not self.inbox_prefix or any(c in self.inbox_prefix for c in " \t\r\n*>"):
            raise Error(f"option inbox_prefix {self.inbox_prefix!r} is not a valid subject prefix")
        for name in ("error_cb", "disconnected_cb", "closed_cb", "discovered_server_cb",
                     "reconnected_cb", "lame_duck_mode_cb", "signature_cb", "user_jwt_cb",
                     "reconnect_delay_handler", "reconnect_to_server"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise Error(f"option {name} must be callable, got {type(value).__name__}")
        auths = self.authenticators()
        if any(not callable(a) for a in auths):
            raise Error("option authenticator must be a callable or a list of callables")
        if self.tls is not None and not isinstance(self.tls, (bool, ssl.SSLContext)):
            raise Error("option tls must be an ssl.SSLContext, True or False")
        self._validate_credentials()
        if self.proxy is not None:
            from .proxy import parse_proxy  # lazy: options is imported by everything

            parse_proxy(self.proxy)
        if self.ws_headers is not None and not callable(self.ws_headers):
            check_headers(self.ws_headers)

    def _validate_credentials(self) -> None:
        """Types only, and the messages name the option, never the value (a secret)."""
        creds = self.user_credentials
        if creds is not None and not isinstance(creds, (str, bytes, bytearray)) and not (
                isinstance(creds, tuple) and len(creds) == 2
                and all(isinstance(p, str) for p in creds)):
            raise Error(f"option user_credentials must be a .creds file's path, its contents "
                        f"(str or bytes) or a (jwt_file, seed_file) pair, not a "
                        f"{type(creds).__name__}")
        for name in ("user", "password", "token", "nkeys_seed", "nkeys_seed_str"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise Error(f"option {name} must be a str, not a {type(value).__name__}")


    def authenticators(self) -> list[Authenticator]:
        """The configured authenticators as a list (empty when there are none)."""
        if self.authenticator is None:
            return []
        if callable(self.authenticator):
            return [self.authenticator]
        return list(self.authenticator)


def check_headers(headers: object) -> dict[str, str]:
    """Extra HTTP headers as a dict, or Error naming the bad one (never its value, which
    may be a token)."""
    if not isinstance(headers, Mapping):
        raise Error(f"option ws_headers must be a mapping of header names to values (or a "
                    f"callable returning one), not a {type(headers).__name__}")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not all(
                c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name):
            raise Error(f"option ws_headers: {name!r} is not a valid HTTP header name")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise Error(f"option ws_headers: the value of {name!r} must be a str on one line")
        if name.lower() in _RESERVED_HEADERS:
            raise Error(f"option ws_headers: {name!r} is set by the websocket upgrade itself")
        checked[name] = value
    return checked


_RESERVED_HEADERS = frozenset({"host", "upgrade", "connection", "sec-websocket-key",
                               "sec-websocket-version", "sec-websocket-extensions",
                               "sec-websocket-protocol", "content-length"})

OPTION_NAMES = frozenset(f.name for f in fields(Options))


def make_options(kwargs: dict[str, Any]) -> Options:
    """Build Options from keyword arguments, naming any that is unknown."""
    unknown = sorted(set(kwargs) - OPTION_NAMES)
    if unknown:
        raise TypeError(f"connect() got unknown option(s): {', '.join(unknown)}")
    opts = Options(**kwargs)
    opts.validate()
    return opts

