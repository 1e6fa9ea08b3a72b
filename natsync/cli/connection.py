"""Connection flags shared by every verb, `nats` CLI context files (ADR-21), and the session."""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .. import errors
from .common import CliError, positive_duration
from .output import Output

if TYPE_CHECKING:
    from ..client import Client
    from ..js.context import JetStreamContext

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_TIMEOUT = 5.0
CLIENT_NAME = "natsync-cli"

#: Context keys (ADR-21) that name files: `~` and environment variables are expanded.
_PATH_KEYS = ("creds", "nkey", "cert", "key", "ca")


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


# --- contexts (ADR-21) -------------------------------------------------------------------------


def config_home() -> Path:
    """`$XDG_CONFIG_HOME`, else `~/.config`."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return Path(xdg) if xdg else Path.home() / ".config"


def context_path(name: str) -> Path:
    """The file of context `name`; a name with a path separator or `.json` is a path itself."""
    if os.sep in name or "/" in name or name.endswith(".json"):
        return Path(os.path.expanduser(name))
    return config_home() / "nats" / "context" / f"{name}.json"


def selected_context() -> Optional[str]:
    """The name in `~/.config/nats/context.txt`, if a context is selected."""
    try:
        name = (config_home() / "nats" / "context.txt").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


def load_context(name: str) -> dict[str, Any]:
    """The settings of a context file, file paths expanded; CliError if it is missing or bad."""
    path = context_path(name)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"unknown context {name!r}: {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read context {name!r} from {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise CliError(f"context {name!r} in {path} is not a JSON object")
    for key in _PATH_KEYS:
        value = doc.get(key)
        if isinstance(value, str) and value and "://" not in value and not value.startswith("data:"):
            doc[key] = os.path.expandvars(os.path.expanduser(value))
    return doc


# --- settings -----------------------------------------------------------------------------------


class Settings:
    """The connection settings after merging flags over the context over the defaults."""

    def __init__(self, args: argparse.Namespace) -> None:
        name = args.context or os.environ.get("NATS_CONTEXT") or None
        if name is None and not args.server and not os.environ.get("NATS_URL"):
            name = selected_context()
        ctx = load_context(name) if name else {}
        self.context_name = name

        def pick(flag: Any, key: str) -> Any:
            """The flag if given, else the context's value (None for empty)."""
            if flag not in (None, False, ""):
                return flag
            value = ctx.get(key)
            return value if value not in (None, "") else None

        self.url: str = str(args.server or ctx.get("url") or os.environ.get("NATS_URL")
                            or DEFAULT_URL)
        self.user: Optional[str] = pick(args.user, "user")
        self.password: Optional[str] = pick(args.password, "password")
        self.token: Optional[str] = pick(args.token, "token")
        self.creds: Optional[str] = pick(args.creds, "creds")
        self.nkey: Optional[str] = pick(args.nkey, "nkey")
        self.user_jwt: Optional[str] = pick(None, "user_jwt")
        self.ca: Optional[str] = pick(args.tls_ca, "ca")
        self.cert: Optional[str] = pick(args.tls_cert, "cert")
        self.key: Optional[str] = pick(args.tls_key, "key")
        self.tls_first = bool(pick(args.tls_first, "tls_first"))
        self.inbox_prefix: Optional[str] = pick(args.inbox_prefix, "inbox_prefix")
        self.js_domain: Optional[str] = pick(args.js_domain, "jetstream_domain")
        self.js_api_prefix: Optional[str] = pick(args.js_api_prefix, "jetstream_api_prefix")
        self.timeout: float = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT
        self._temp_files: list[str] = []

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for `natsync.connect()`."""
        opts: dict[str, Any] = {"name": CLIENT_NAME, "connect_timeout": self.timeout}
        if self.user is not None:
            opts["user"] = self.user
            opts["password"] = self.password or ""
        elif self.password is not None:
            raise CliError("--password needs --user")
        if self.token is not None:
            opts["token"] = self.token
        if self.creds is not None:
            opts["user_credentials"] = self._credential_file(self.creds, "creds")
        if self.nkey is not None:
            seed = _credential_uri(self.nkey, "nkey")
            if seed is None:
                opts["nkeys_seed"] = _file_path(self.nkey)
            else:
                opts["nkeys_seed_str"] = seed.decode().strip()
        if self.user_jwt:
            jwt = self.user_jwt
            opts["user_jwt_cb"] = lambda: jwt
        tls = self.tls_context()
        if tls is not None:
            opts["tls"] = tls
        if self.tls_first:
            opts["tls_handshake_first"] = True
        if self.inbox_prefix:
            opts["inbox_prefix"] = self.inbox_prefix
        return opts

    def tls_context(self) -> Optional[ssl.SSLContext]:
        """An SSLContext for --tls-ca/--tls-cert/--tls-key, or None to use the defaults."""
        if not (self.ca or self.cert or self.key):
            return None
        if bool(self.cert) != bool(self.key):
            raise CliError("--tls-cert and --tls-key go together")
        try:
            if self.ca:
                ctx = ssl.create_default_context(cafile=self.ca)
            else:
                from ..engine.handshake import default_tls_context

                ctx = default_tls_context()
            if self.cert and self.key:
                ctx.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise CliError(f"cannot load TLS files: {exc}") from None
        return ctx

    def _credential_file(self, value: str, what: str) -> str:
        """A path for a creds value: a path, file://, or env:// / data: written to a private temp file."""
        content = _credential_uri(value, what)
        if content is None:
            return _file_path(value)
        fd, path = tempfile.mkstemp(prefix="natsync-", suffix=".creds")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        self._temp_files.append(path)
        return path

    def cleanup(self) -> None:
        """Remove temporary credential files."""
        for path in self._temp_files:
            try:
                os.unlink(path)
            except OSError:
                pass
        self._temp_files.clear()


def _file_path(value: str) -> str:
    """A plain path from a path or `file://` URI."""
    if value.startswith("file://"):
        value = value[len("file://"):]
    return os.path.expandvars(os.path.expanduser(value))


def _credential_uri(value: str, what: str) -> Optional[bytes]:
    """The bytes of an `env://NAME` or `data:;base64,...` value; None for a path or file://."""
    if value.startswith("env://"):
        name = value[len("env://"):]
        content = os.environ.get(name)
        if content is None:
            raise CliError(f"{what}: environment variable {name} is not set")
        return content.encode()
    if value.startswith("data:"):
        meta, sep, payload = value[len("data:"):].partition(",")
        if not sep:
            raise CliError(f"{what}: malformed data: URI")
        try:
            return base64.b64decode(payload) if meta.endswith(";base64") else payload.encode()
        except ValueError:
            raise CliError(f"{what}: data: URI is not valid base64") from None
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme and scheme != "file":
        raise CliError(f"{what}: {scheme}:// credentials are not supported by natsync; "
                       "use a file path, file://, env:// or data:")
    return None


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
            finally:
                settings.cleanup()
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
