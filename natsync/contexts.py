"""NATS contexts (ADR-21): the connection settings the `nats` CLI keeps in
`~/.config/nats/context/NAME.json`, read by `natsync.connect(context=NAME)` and by
natsync's own CLI, so scripts and notebooks share the CLI's configuration.

A context's credentials may be files, `file://` paths, `env://VARIABLE` or `data:`
URIs; none is copied to a temporary file (the client takes `.creds` contents in memory).
Errors name the context and the setting, never what a credential holds.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
from pathlib import Path
from typing import Any, Optional

from .errors import Error

#: Context keys (ADR-21) that name files: `~` and environment variables are expanded.
PATH_KEYS = ("creds", "nkey", "cert", "key", "ca")


class ContextError(Error):
    """A NATS context is missing, unreadable, or holds a setting natsync cannot use."""


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
    """The name in `~/.config/nats/context.txt` (`nats context select`), if any."""
    try:
        name = (config_home() / "nats" / "context.txt").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


def load_context(name: str) -> dict[str, Any]:
    """The settings of a context file, file paths expanded; ContextError if it is missing
    or bad."""
    path = context_path(name)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContextError(f"unknown context {name!r}: {path} does not exist") from None
    except OSError as exc:
        raise ContextError(f"cannot read context {name!r} from {path}: {exc.strerror}") from None
    except ValueError:
        raise ContextError(f"context {name!r} in {path} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ContextError(f"context {name!r} in {path} is not a JSON object")
    for key in PATH_KEYS:
        value = doc.get(key)
        if isinstance(value, str) and value and "://" not in value and not value.startswith("data:"):
            doc[key] = os.path.expandvars(os.path.expanduser(value))
    return doc


def connect_settings(ctx: dict[str, Any]) -> tuple[Optional[str], dict[str, Any]]:
    """(the servers URL, `connect()` options) for the settings of a context."""
    def value(key: str) -> Any:
        found = ctx.get(key)
        return found if found not in (None, "") else None

    opts: dict[str, Any] = {}
    if value("user") is not None:
        opts["user"] = value("user")
        opts["password"] = value("password") or ""
    elif value("password") is not None:
        raise ContextError("a password needs a user (--user, or the context's user)")
    if value("token") is not None:
        opts["token"] = value("token")
    if value("creds") is not None:
        content = credential_content(value("creds"), "creds")
        opts["user_credentials"] = content if content is not None else file_path(value("creds"))
    if value("nkey") is not None:
        seed = credential_content(value("nkey"), "nkey")
        if seed is None:
            opts["nkeys_seed"] = file_path(value("nkey"))
        else:
            opts["nkeys_seed_str"] = seed.decode().strip()
    jwt = value("user_jwt")
    if jwt is not None:
        opts["user_jwt_cb"] = lambda: jwt
    tls = tls_context(value("ca"), value("cert"), value("key"))
    if tls is not None:
        opts["tls"] = tls
    if value("tls_first"):
        opts["tls_handshake_first"] = True
    if value("inbox_prefix") is not None:
        opts["inbox_prefix"] = value("inbox_prefix")
    return value("url"), opts


def tls_context(ca: Optional[str], cert: Optional[str],
                key: Optional[str]) -> Optional[ssl.SSLContext]:
    """An SSLContext trusting `ca` (else certifi) with the client certificate, or None when
    no TLS file is given."""
    if not (ca or cert or key):
        return None
    if bool(cert) != bool(key):
        raise ContextError("--tls-cert and --tls-key go together (a client certificate and "
                           "its key; in a context: cert and key)")
    try:
        if ca:
            ctx = ssl.create_default_context(cafile=ca)
        else:
            from .engine.handshake import default_tls_context

            ctx = default_tls_context()
        if cert and key:
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ContextError(f"cannot load the TLS files: {exc}") from None
    return ctx


def file_path(value: str) -> str:
    """A plain path from a path or `file://` URI."""
    if value.startswith("file://"):
        value = value[len("file://"):]
    return os.path.expandvars(os.path.expanduser(value))


def credential_content(value: str, what: str) -> Optional[bytes]:
    """The bytes of an `env://NAME` or `data:[;base64],...` value; None for a path or
    `file://` URI."""
    if value.startswith("env://"):
        name = value[len("env://"):]
        content = os.environ.get(name)
        if content is None:
            raise ContextError(f"{what}: environment variable {name} is not set")
        return content.encode()
    if value.startswith("data:"):
        meta, sep, payload = value[len("data:"):].partition(",")
        if not sep:
            raise ContextError(f"{what}: malformed data: URI")
        try:
            return base64.b64decode(payload) if meta.endswith(";base64") else payload.encode()
        except ValueError:
            raise ContextError(f"{what}: data: URI is not valid base64") from None
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme and scheme != "file":
        raise ContextError(f"{what}: {scheme}:// credentials are not supported by natsync; "
                           "use a file path, file://, env:// or data:")
    return None
