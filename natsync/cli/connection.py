"""Connection flags shared by every verb, `nats` CLI context files (ADR-21), and the session."""

from __future__ import annotations

import argparse
import os
import threading
from typing import TYPE_CHECKING, Any, Optional

from .. import errors
from ..contexts import ContextError, connect_settings, load_context, selected_context
from .common import CliError, positive_duration
from .output import Output

if TYPE_CHECKING:
    from ..client import Client
    from ..js.context import JetStreamContext

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_TIMEOUT = 5.0
CLIENT_NAME = "natsync-cli"

def add_common_flags(parser: argparse.ArgumentParser, top_level: bool) -> None:
    """Add the connection and output flags; only the top-level parser holds their defaults."""
    # They are accepted before the verb (`natsync -s URL pub ...`) and after it. On the
    # sub-commands they default to "not given" (SUPPRESS), so that a flag given before the
    # verb is not reset by the sub-command's own default.
    def default(value: Any) -> Any:
        return value if top_level else argparse.SUPPRESS

    conn = parser.add_argument_group("connection options")
    conn.add_argument("-s", "--server", metavar="URL", default=default(None),
                      help="server URL(s), comma separated (default: the context's url, "
                           f"then $NATS_URL, then {DEFAULT_URL})")
    conn.add_argument("--context", metavar="NAME", default=default(None),
                      help="a nats CLI context: ~/.config/nats/context/NAME.json "
                           "(default: $NATS_CONTEXT, else the selected context when no "
                           "--server is given)")
    conn.add_argument("--user", default=default(None), help="user name")
    conn.add_argument("--password", default=default(None), help="password")
    conn.add_argument("--token", default=default(None), help="authentication token")
    conn.add_argument("--creds", metavar="FILE", default=default(None),
                      help="user credentials (.creds) file")
    conn.add_argument("--nkey", metavar="FILE", default=default(None), help="NKEY seed file")
    conn.add_argument("--tls-ca", metavar="FILE", default=default(None),
                      help="CA certificate(s) to verify the server with")
    conn.add_argument("--tls-cert", metavar="FILE", default=default(None),
                      help="client certificate (mutual TLS)")
    conn.add_argument("--tls-key", metavar="FILE", default=default(None),
                      help="client certificate's private key")
    conn.add_argument("--tls-first", action="store_true", default=default(False),
                      help="start TLS before the server's INFO (handshake_first servers)")
    conn.add_argument("--inbox-prefix", metavar="PREFIX", default=default(None),
                      help="prefix of reply subjects (default _INBOX)")
    conn.add_argument("--js-domain", metavar="DOMAIN", default=default(None),
                      help="JetStream domain")
    conn.add_argument("--js-api-prefix", metavar="PREFIX", default=default(None),
                      help="JetStream API prefix (default $JS.API)")
    conn.add_argument("--timeout", metavar="DURATION", type=positive_duration,
                      default=default(None),
                      help=f"connect and request timeout, e.g. 2, 500ms, 1m "
                           f"(default {DEFAULT_TIMEOUT:g}s)")
    out = parser.add_argument_group("output options")
    out.add_argument("--json", action="store_true", default=default(False),
                     help="machine-readable JSON output")


# --- settings -----------------------------------------------------------------------------------


class Settings:
    """The connection settings after merging flags over the context over the defaults."""

    def __init__(self, args: argparse.Namespace) -> None:
        name = args.context or os.environ.get("NATS_CONTEXT") or None
        if name is None and not args.server and not os.environ.get("NATS_URL"):
            name = selected_context()
        self.context_name = name
        try:
            ctx = load_context(name) if name else {}
            flags = {"url": args.server, "user": args.user, "password": args.password,
                     "token": args.token, "creds": args.creds, "nkey": args.nkey,
                     "ca": args.tls_ca, "cert": args.tls_cert, "key": args.tls_key,
                     "tls_first": args.tls_first, "inbox_prefix": args.inbox_prefix,
                     "jetstream_domain": args.js_domain,
                     "jetstream_api_prefix": args.js_api_prefix}
            merged = {**ctx, **{k: v for k, v in flags.items() if v not in (None, False, "")}}
            url, self._options = connect_settings(merged)
        except ContextError as exc:
            raise CliError(str(exc)) from None
        self.url: str = str(url or os.environ.get("NATS_URL") or DEFAULT_URL)
        self.js_domain: Optional[str] = merged.get("jetstream_domain") or None
        self.js_api_prefix: Optional[str] = merged.get("jetstream_api_prefix") or None
        self.timeout: float = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for `natsync.connect()`."""
        return {"name": CLIENT_NAME, "connect_timeout": self.timeout, **self._options}


# --- the session --------------------------------------------------------------------------------


class Session:
    """What a verb works with: the output, the settings, and a client connected on first use."""

    def __init__(self, args: argparse.Namespace, out: Output) -> None:
        self.args = args
        self.out = out
        self._settings: Optional[Settings] = None
        self._nc: Optional[Client] = None

    @property
    def settings(self) -> Settings:
        """The merged connection settings (read on first use)."""
        if self._settings is None:
            self._settings = Settings(self.args)
        return self._settings

    @property
    def timeout(self) -> float:
        """The --timeout in seconds (or the context's default)."""
        return self.settings.timeout

    def nc(self) -> Client:
        """The connected client (connects on the first call)."""
        if self._nc is None:
            import natsync

            settings = self.settings
            opts = settings.connect_options()
            try:
                self._nc = natsync.connect(settings.url, **opts)
            except errors.Error as exc:
                raise ConnectError(settings.url, exc) from None
        return self._nc

    def js(self) -> JetStreamContext:
        """A JetStream context with the domain and API prefix of the flags or context."""
        s = self.settings
        nc = self.nc()
        return nc.jetstream(prefix=s.js_api_prefix or "$JS.API", domain=s.js_domain,
                            timeout=self.timeout)

    def finish(self) -> None:
        """After success: make sure the server has everything we sent, then close."""
        nc = self._nc
        if nc is not None and nc.is_connected:
            try:
                nc.flush(timeout=self.timeout)
            except errors.Error:
                pass
        self.close()

    def close(self) -> None:
        """Close the connection, giving up after a few seconds (never hangs an exit)."""
        nc, self._nc = self._nc, None
        if nc is None or nc.is_closed:
            return
        t = threading.Thread(target=_close_quietly, args=(nc,), daemon=True,
                             name="natsync-cli-close")
        t.start()
        t.join(3.0)


def _close_quietly(nc: Client) -> None:
    try:
        nc.close()
    except Exception:  # noqa: BLE001 - closing on the way out: nothing to report
        pass


class ConnectError(errors.Error):
    """Connecting failed; the message names the server."""

    def __init__(self, url: str, cause: Exception) -> None:
        from ..servers import parse_url

        try:
            shown = ",".join(parse_url(u).url for u in url.split(",") if u.strip())
        except Exception:  # noqa: BLE001 - a URL we cannot parse is shown as not given
            shown = "the given server"
        super().__init__(f"cannot connect to {shown}: {cause}")
