"""A real gunicorn serving the example Flask and Django apps through a nats-server restart.

Every request that got a 200 must have done its NATS work (stored in JetStream and
answered by this test's responder), and no worker may use a connection made by another
process, the --preload master included.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import natsync
from natsync.testing import NatsServer, free_port

from .conftest import wait_for
from .procs import DJANGO_SITE, ROOT, Proc, env_with

APPS = Path(__file__).resolve().parent / "apps"
EXAMPLES = ROOT / "examples"
# (app, gunicorn app spec, --pythonpath, spec with --preload)
SITES = {
    "flask": ("flask_nats_app:app", f"{APPS},{EXAMPLES}", "flask_preload:app"),
    "django": ("nats_site.wsgi", f"{APPS},{DJANGO_SITE}", "django_preload"),
}
PHASE = 24  # requests per phase: before, during and after the outage


def _post(base: str, order: str) -> tuple[str, int, dict[str, Any]]:
    req = urllib.request.Request(f"{base}/orders/{order}", data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return order, resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return order, err.code, {}
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return order, 0, {}


def _drive(base: str, pool: ThreadPoolExecutor) -> list[tuple[str, int, dict[str, Any]]]:
    orders = [uuid.uuid4().hex for _ in range(PHASE)]
    return list(pool.map(lambda order: _post(base, order), orders))


def _stored_orders(js: Any, count: int) -> set[str]:
    stored: set[str] = set()
    consumer = js.stream("ORDERS").ordered_consumer()
    for _ in range(50):
        if len(stored) >= count:
            break
        stored |= {m.data.decode() for m in consumer.fetch(max_messages=200, max_wait=1)}
    return stored


@pytest.mark.parametrize(("site", "worker_class", "preload"), [
    ("flask", "sync", True),
    ("flask", "gthread", False),
    ("django", "sync", False),
    ("django", "gthread", True),
    ("flask", "gevent", False),  # greenlets: natsync's threads are greenlets too
])
def test_gunicorn_workers_each_use_their_own_client(tmp_path: Path, site: str,
                                                    worker_class: str, preload: bool) -> None:
    spec, pythonpath, preload_spec = SITES[site]
    master_file = tmp_path / "master.json"
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-w", "2", "-k", worker_class,
           "-b", f"127.0.0.1:{port}", "--pythonpath", pythonpath, "--graceful-timeout", "10"]
    if worker_class == "gthread":
        cmd += ["--threads", "4"]
    cmd += ["--preload", preload_spec] if preload else [spec]
    reserved: set[str] = set()
    lock = threading.Lock()

    def reserve(msg: natsync.Msg) -> None:
        with lock:
            reserved.add(msg.data.decode())
        msg.respond(b"ok " + msg.data)

    with NatsServer(jetstream=True) as server, \
            natsync.connect(server.url, max_reconnect_attempts=-1,
                            reconnect_time_wait=0.1) as nc:
        js = nc.jetstream()
        js.add_stream(name="ORDERS", subjects=["orders.created"])
        nc.subscribe("inventory.reserve", cb=reserve)
        nc.flush()
        gunicorn = Proc(cmd, env_with(NATS_URL=server.url, MASTER_INFO=str(master_file)),
                        cwd=tmp_path)
        try:
            base = f"http://127.0.0.1:{port}"
            gunicorn.wait_for(f"Listening at: {base}")
            with ThreadPoolExecutor(max_workers=6) as pool:
                before = _drive(base, pool)
                server.kill()
                during_future = pool.submit(_drive, base, pool)
                time.sleep(1.0)
                server.start()
                wait_for(lambda: nc.is_connected, 15, "the test client to reconnect")
                wait_for(lambda: js.publish("orders.created", b"probe", timeout=1) is not None,
                         15, "JetStream after the restart")
                during = during_future.result(timeout=120)
                after = _drive(base, pool)
            assert [code for _, code, _ in before] == [200] * PHASE, gunicorn.output
            assert [code for _, code, _ in after] == [200] * PHASE, gunicorn.output
            ok = [(order, body) for order, code, body in before + during + after if code == 200]
            stored = _stored_orders(js, len(ok))
            for order, body in ok:
                assert body["order"] == order and body["reserved"] == f"ok {order}"
                assert order in reserved, f"{order} got a 200 but was never reserved"
                assert order in stored, f"{order} got a 200 but is not in the stream"

            master_pid = gunicorn.popen.pid
            pids = {body["pid"] for _, body in ok}
            assert len(pids) >= 2 and master_pid not in pids, pids
            assert all(body["client_pid"] == body["pid"] for _, body in ok)
            users: dict[str, set[int]] = {}
            for _, body in ok:
                users.setdefault(body["connection"], set()).add(body["pid"])
            assert all(len(p) == 1 for p in users.values()), users
            if preload:
                master = json.loads(master_file.read_text())
                assert master["pid"] == master_pid
                assert master["connection"] not in users, "a worker used the master's connection"
            else:
                assert not master_file.exists()
            assert gunicorn.stop(signal.SIGTERM, timeout=30) == 0, gunicorn.output
        finally:
            gunicorn.kill()
