"""natsync.contrib.django: the settings check, nats_listen and nats_worker, as real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import natsync
from natsync.js import api
from natsync.testing import NatsServer

from .conftest import wait_for
from .procs import DJANGO_SITE, Proc, env_with, manage


def _check(tmp_path: Path, lines: str) -> subprocess.CompletedProcess[str]:
    """`manage.py check` with the example settings plus `lines`."""
    (tmp_path / "check_settings.py").write_text(
        "from nats_site.settings import *  # noqa\n" + textwrap.dedent(lines))
    env = env_with(DJANGO_SETTINGS_MODULE="check_settings",
                   PYTHONPATH=f"{tmp_path}:{DJANGO_SITE}:{DJANGO_SITE.parent.parent}")
    return subprocess.run([sys.executable, str(DJANGO_SITE / "manage.py"), "check"], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("lines", "check_id", "named"), [
    ("NATS = 'nats://x'", "natsync.E001", "settings.NATS must be a dict"),
    ("NATS_URL = 'http://127.0.0.1:4222'", "natsync.E002", "scheme must be one of"),
    ("NATS = {'servers': 42}", "natsync.E002", "NATS['servers'] must be a URL string"),
    ("NATS = {'nmae': 'web'}", "natsync.E003", "unknown connect option 'nmae'"),
    ("NATS = {'name': 5}", "natsync.E004", "connect option 'name' must be"),
    ("NATS = {'max_reconnect_attempts': '3'}", "natsync.E004", "'max_reconnect_attempts'"),
    ("NATS = {'connect_timeout': -1}", "natsync.E005", "connect_timeout must be a positive"),
])
def test_check_reports_bad_settings(tmp_path: Path, lines: str, check_id: str,
                                    named: str) -> None:
    out = _check(tmp_path, lines)
    assert out.returncode != 0, out.stdout
    assert check_id in out.stderr and named in out.stderr, out.stderr


def test_check_accepts_good_settings(tmp_path: Path) -> None:
    out = _check(tmp_path, "NATS = {'servers': ['nats://a:4222', 'tls://b'], 'name': 'x',"
                           " 'connect_timeout': 1, 'ping_interval': 5.5}\n")
    assert out.returncode == 0, out.stderr
    assert "no issues" in out.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_nats_listen_answers_then_stops_cleanly(nats_server: NatsServer, sig: int) -> None:
    proc = Proc(manage("nats_listen", "inventory.reserve", "nats_site.handlers.reserve",
                       "--queue", "inventory"), env_with(NATS_URL=nats_server.url),
                cwd=DJANGO_SITE)
    try:
        proc.wait_for("Listening on 'inventory.reserve' in queue group 'inventory'.")
        with natsync.connect(nats_server.url) as nc:
            assert nc.request("inventory.reserve", b"order-1", timeout=5).data == \
                b"reserved order-1"
            assert nc.request("inventory.reserve", b"order-2", timeout=5).data == \
                b"reserved order-2"
            assert proc.stop(sig) == 0, proc.output
            name = signal.Signals(sig).name
            assert f"Stopped on {name} after handling 2 message(s)." in proc.output
            with pytest.raises(natsync.errors.NoRespondersError):
                nc.request("inventory.reserve", b"order-3", timeout=2)
    finally:
        proc.kill()


def test_nats_listen_refuses_a_bad_handler(nats_server: NatsServer) -> None:
    out = subprocess.run(manage("nats_listen", "x", "nats_site.handlers.nope"),
                         env=env_with(NATS_URL=nats_server.url), cwd=DJANGO_SITE,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "cannot import handler 'nats_site.handlers.nope'" in out.stderr


def test_nats_worker_processes_a_work_queue(tmp_path: Path) -> None:
    with NatsServer(jetstream=True) as server, natsync.connect(server.url) as nc:
        js = nc.jetstream()
        js.add_stream(name="ORDERS", subjects=["orders.created"],
                      retention=api.RetentionPolicy.WORK_QUEUE)
        shipped = nc.subscribe("orders.shipped")
        nc.flush()
        for i in range(30):
            js.publish("orders.created", b"order-%d" % i)
        proc = Proc(manage("nats_worker", "ORDERS", "shipping", "nats_site.handlers.ship"),
                    env_with(NATS_URL=server.url), cwd=DJANGO_SITE)
        try:
            proc.wait_for("Working on ORDERS/shipping.")
            got = {shipped.next_msg(timeout=10).data for _ in range(30)}
            assert got == {b"order-%d" % i for i in range(30)}
            wait_for(lambda: js.stream_info("ORDERS").state.messages == 0, 10,
                     "every order acked")
            assert js.consumer_info("ORDERS", "shipping").config.ack_policy == \
                api.AckPolicy.EXPLICIT
            assert proc.stop(signal.SIGTERM) == 0, proc.output
            assert "Stopped on SIGTERM after 30 message(s), all acked." in proc.output
        finally:
            proc.kill()
