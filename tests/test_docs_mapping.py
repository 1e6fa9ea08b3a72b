"""docs/nats-js-mapping.md cites only names natsync really has, and covers what nats.js has.

Every code span in a table's *natsync* column is resolved:
- a bare name (`ping_interval`) must be a field of `natsync.options.Options` or a
  parameter of `natsync.connect()`;
- `nc.flush`, `sub.delivered`, ... start with an alias from the page's "Names used
  below" table (`nc` is `natsync.Client`) and must be members of that class;
- anything else (`natsync.micro.add_service`, `ssl.SSLContext.load_cert_chain`,
  `str.encode`) is imported and looked up attribute by attribute;
- keywords written as `nc.request(timeout=, no_mux=)` must be parameters of the callable.

No server is needed.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import pytest

import natsync
from natsync.options import OPTION_NAMES, Options

DOC = Path(__file__).resolve().parent.parent / "docs" / "nats-js-mapping.md"

NONE = "—"
NO_COUNTERPART = ("Not supported", "Not applicable")

#: Every `ConnectionOptions` field the nats.js documents (the seeds) list.
JS_CONNECTION_OPTIONS = [
    "servers", "port", "user", "pass", "token", "authenticator", "debug",
    "ignoreClusterUpdates", "ignoreAuthErrorAbort", "inboxPrefix", "maxPingOut",
    "maxReconnectAttempts", "name", "noAsyncTraces", "noEcho", "noRandomize", "noResolve",
    "pedantic", "pingInterval", "reconnect", "reconnectDelayHandler", "reconnectJitter",
    "reconnectJitterTLS", "reconnectTimeWait", "timeout", "tls", "verbose",
    "waitOnFirstConnect",
]
#: Every `TlsOptions` field they list.
JS_TLS_OPTIONS = [
    "tls.ca", "tls.caFile", "tls.cert", "tls.certFile", "tls.key", "tls.keyFile",
    "tls.handshakeFirst", "tls.checkServerIdentity", "tls.rejectUnauthorized", "tls.timeout",
]
#: Every `NatsConnection` method and property they show.
JS_CONNECTION_MEMBERS = [
    "publish(subject, payload, opts)", "subscribe(subject, opts)",
    "request(subject, payload, opts)", "requestMany(subject, payload, opts)", "flush()",
    "drain()", "close()", "closed()", "isClosed()", "isDraining()", "getServer()", "info",
    "stats()", "rtt()", "status()", "reconnect()", "options", "jetstream()",
    "jetstreamManager()", "services",
]
#: The events `status()` yields.
JS_STATUS_EVENTS = [
    "Events.Disconnect", "Events.Reconnect", "Events.Update", "Events.LDM", "Events.Error",
    "DebugEvents.Reconnecting", "DebugEvents.PingTimer", "DebugEvents.StaleConnection",
    "DebugEvents.ClientInitiatedReconnect",
]

_SPAN = re.compile(r"`([^`]+)`")
_REF = re.compile(r"^(?P<path>[A-Za-z_]\w*(?:\.\w+)*)(?:\((?P<args>[^()]*)\))?$")
_KEYWORD = re.compile(r"(\w+)\s*=(?!=)")
_SELF_ATTR = re.compile(r"\bself\.(\w+)\s*(?::[^=\n]*)?=(?!=)")

CONNECT_PARAMS = {name for name, p in inspect.signature(natsync.connect).parameters.items()
                  if p.kind is not inspect.Parameter.VAR_KEYWORD}


@dataclass
class Table:
    heading: str
    header: List[str]
    rows: List[List[str]]

    def column(self, name: str) -> Optional[int]:
        return self.header.index(name) if name in self.header else None


def _cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


@cache
def tables() -> List[Table]:
    out: List[Table] = []
    heading = ""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1]) <= set("|-: "):
            header = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                row = _cells(lines[i])
                assert len(row) == len(header), f"{heading}: ragged row {lines[i]!r}"
                rows.append(row)
                i += 1
            out.append(Table(heading, header, rows))
            continue
        i += 1
    return out


def table(heading_part: str) -> Table:
    found = [t for t in tables() if heading_part in t.heading]
    assert len(found) == 1, f"expected one table under a heading with {heading_part!r}"
    return found[0]


def spans(cell: str) -> List[str]:
    return _SPAN.findall(cell)


def _import_path(parts: List[str]) -> tuple[Any, List[str]]:
    """The longest importable module prefix of `parts` (or a builtin), and the rest."""
    if hasattr(builtins, parts[0]):
        return getattr(builtins, parts[0]), parts[1:]
    for n in range(len(parts), 0, -1):
        try:
            return importlib.import_module(".".join(parts[:n])), parts[n:]
        except ImportError:
            continue
    raise AssertionError(f"cannot import any prefix of {'.'.join(parts)!r}")


def _instance_attributes(cls: type) -> Set[str]:
    """Attributes natsync classes set on `self` (e.g. Subscription.subject, Client.options)."""
    names: Set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("natsync"):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        names.update(_SELF_ATTR.findall(source))
    return names


def _has_member(owner: Any, name: str) -> bool:
    if hasattr(owner, name):
        return True
    return inspect.isclass(owner) and name in _instance_attributes(owner)


@cache
def aliases() -> Dict[str, type]:
    legend = table("Names used below")
    out: Dict[str, type] = {}
    for row in legend.rows:
        alias = spans(row[0])[0]
        target, rest = _import_path(spans(row[1])[0].split("."))
        for part in rest:
            target = getattr(target, part)
        assert inspect.isclass(target), f"legend: {alias} does not stand for a class"
        out[alias] = target
    return out


def resolve(ref: str) -> None:
    """Raise AssertionError unless `ref` names something natsync (or Python) has."""
    m = _REF.match(ref)
    assert m is not None, f"{ref!r} is not a name natsync's column may cite"
    parts = m.group("path").split(".")
    args = m.group("args")
    if len(parts) == 1 and parts[0] not in aliases() and not hasattr(builtins, parts[0]):
        assert args is None, f"{ref!r}: a connect() option takes no arguments"
        assert parts[0] in OPTION_NAMES or parts[0] in CONNECT_PARAMS, (
            f"{ref!r} is neither a field of natsync.options.Options nor a connect() parameter")
        return
    if parts[0] in aliases():
        owner: Any = aliases()[parts[0]]
        rest = parts[1:]
    else:
        owner, rest = _import_path(parts)
    target: Any = owner
    for k, name in enumerate(rest):
        where = ".".join(parts[:len(parts) - len(rest) + k]) or parts[0]
        assert _has_member(target, name), f"{ref!r}: {where} has no member {name!r}"
        target = getattr(target, name, None)
        if target is None:
            assert k == len(rest) - 1, f"{ref!r}: cannot look inside instance attribute {name!r}"
    if args is None:
        return
    assert target is not None and callable(target), f"{ref!r} is not callable"
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):  # a builtin without a signature: names checked above
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    for keyword in _KEYWORD.findall(args):
        assert keyword in params, f"{ref!r}: {m.group('path')} has no parameter {keyword!r}"


def mapping_rows() -> List[tuple[str, str, str]]:
    """(heading, first cell, natsync cell) of every table with a natsync column."""
    out = []
    for t in tables():
        col = t.column("natsync")
        if col is None:
            continue
        for row in t.rows:
            out.append((t.heading, row[0], row[col]))
    return out


def test_the_page_has_its_tables() -> None:
    assert aliases()["nc"] is natsync.Client
    assert len(mapping_rows()) > 100


@pytest.mark.parametrize("heading,first,cell", mapping_rows(),
                         ids=lambda v: v if isinstance(v, str) and len(v) < 60 else None)
def test_every_cited_natsync_name_exists(heading: str, first: str, cell: str) -> None:
    for ref in spans(cell):
        resolve(ref)


def test_rows_without_a_counterpart_say_why() -> None:
    for t in tables():
        col = t.column("natsync")
        notes = t.column("notes")
        if col is None or t.header[0] != "nats.js":
            continue
        assert notes is not None, f"{t.heading}: a mapping table needs a notes column"
        for row in t.rows:
            if row[col] == NONE:
                assert row[notes].startswith(NO_COUNTERPART), (
                    f"{t.heading}: {row[0]} has no natsync name, so its note must start "
                    f"with one of {NO_COUNTERPART}")
            else:
                assert spans(row[col]), f"{t.heading}: {row[0]} cites no natsync name"


def test_every_natsync_option_is_on_the_page() -> None:
    cited = {ref for _, _, cell in mapping_rows() for ref in spans(cell)}
    missing = sorted(OPTION_NAMES - cited)
    assert not missing, f"connect() options missing from docs/nats-js-mapping.md: {missing}"


def test_options_cited_in_the_options_table_are_real() -> None:
    """The brief's check, stated directly: bare names are Options fields or connect() params."""
    t = table("ConnectionOptions")
    col = t.column("natsync")
    assert col is not None
    fields = set(Options.__dataclass_fields__)
    for row in t.rows:
        for ref in spans(row[col]):
            if "." not in ref:
                assert ref in fields or ref in CONNECT_PARAMS, ref


def test_client_members_cited_exist_on_client() -> None:
    """Every `nc.<name>` anywhere on the page is a method or property of natsync.Client."""
    for _, _, cell in mapping_rows():
        for ref in spans(cell):
            if ref.startswith("nc."):
                name = ref[3:].split("(")[0]
                assert hasattr(natsync.Client, name), f"natsync.Client has no {name!r}"


@pytest.mark.parametrize("heading,expected", [
    ("ConnectionOptions", JS_CONNECTION_OPTIONS),
    ("TlsOptions", JS_TLS_OPTIONS),
    ("NatsConnection", JS_CONNECTION_MEMBERS),
    ("status()", JS_STATUS_EVENTS),
])
def test_every_nats_js_name_is_mapped(heading: str, expected: List[str]) -> None:
    listed = {ref for row in table(heading).rows for ref in spans(row[0])}
    missing = [name for name in expected if name not in listed]
    assert not missing, f"{heading}: nats.js names missing from the page: {missing}"
