"""Real `celery worker` processes (prefork and threads pools) on the kombu transport and
the Key-Value result backend, against one embedded JetStream server:

- every task runs exactly once when nobody is killed; groups, chords, retries, ETA and
  countdown tasks, `inspect ping`/`active_queues` and `celery purge` work;
- a worker SIGKILLed mid-run: every task still runs, and only tasks that were in flight
  run twice;
- a server restart mid-run: nothing accepted is lost, workers go on by themselves.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, List

import pytest
from celery import chord, group
from celery.exceptions import ImproperlyConfigured

from natsync.testing import NatsServer

from .conftest import wait_for
from .procs import ROOT, env_with
from .taskq import BIN, celery_worker, check_at_least_once, runs, stop_all

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    store = tmp_path_factory.mktemp("celery-js")
    with NatsServer(jetstream=True, store_dir=store) as srv:
        yield srv


@pytest.fixture(scope="module")
def app_module(server: NatsServer) -> Iterator[ModuleType]:
    """tests/apps/celery_app.py as a producer in this process, pointed at the server."""
    os.environ["NATSYNC_TEST_URL"] = server.url
    sys.modules.pop("tests.apps.celery_app", None)  # imported once, with this URL
    module = importlib.import_module("tests.apps.celery_app")
    yield module
    module.app.backend.close()
    module.app.amqp.producer_pool.force_close_all()  # each connection has a natsync client
    module.app.pool.force_close_all()
    module.app.close()
    os.environ.pop("NATSYNC_TEST_URL", None)


def _send(app_module: ModuleType, queue: str, keys: List[int], seconds: float = 0.0) -> List[Any]:
    return [app_module.record.apply_async((k, seconds), queue=queue) for k in keys]


def test_every_task_runs_exactly_once_and_the_rest_works(
        server: NatsServer, app_module: ModuleType, tmp_path: Path) -> None:
    runs_file = tmp_path / "runs.txt"
    workers = [celery_worker(tmp_path, "pre", "main", "prefork", 2, runs_file, server.url),
               celery_worker(tmp_path, "thr", "main", "threads", 3, runs_file, server.url)]
    try:
        for w in workers:
            w.wait_for("ready.")
        # a task and a countdown that outlast the visibility timeout (3 s): kept alive
        # with in_progress, so neither goes to the other worker as well
        long_task = app_module.record.apply_async((5000, 4.0), queue="main")
        eta = time.time() + 4.0
        late = app_module.not_before.apply_async(("e", eta), queue="main", countdown=4.0)
        keys = list(range(300))
        results = _send(app_module, "main", keys)
        assert sorted(r.get(timeout=60) for r in results[:20]) == keys[:20]  # AsyncResult.get()
        wait_for(lambda: len(runs(runs_file, "record")) >= 301, 60, "301 task runs")

        # groups, chords (atomic counter), a retried task
        g = group(app_module.add.s(i, i).set(queue="main") for i in range(20))()
        assert g.get(timeout=30) == [2 * i for i in range(20)]
        body = app_module.total.s().set(queue="main")
        c = chord((app_module.add.s(i, 1).set(queue="main") for i in range(20)), body)()
        assert c.get(timeout=30) == sum(i + 1 for i in range(20))
        flaky = app_module.flaky.apply_async(("f", 2), queue="main")
        assert flaky.get(timeout=30) == "f after 2 retries"
        assert long_task.get(timeout=30) == 5000
        assert 0 <= late.get(timeout=30) < 3.0  # after its time, not before

        # remote control over the fanout exchange, replies over a direct one
        inspect = app_module.app.control.inspect(timeout=5, limit=2)
        pongs = inspect.ping() or {}
        assert sorted(n.split("@")[0] for n in pongs) == ["pre", "thr"], pongs
        active = inspect.active_queues() or {}
        assert {q["name"] for qs in active.values() for q in qs} == {"main"}

        # nothing ran twice, and every run of a key was its only one
        found = runs(runs_file, "record")
        assert sorted(int(r.key) for r in found) == keys + [5000]
        assert not any(r.redelivered for r in found + runs(runs_file, "eta"))
        assert len(runs(runs_file, "eta")) == 1 and len(runs(runs_file, "flaky")) == 3
    finally:
        codes = stop_all(workers)
    assert codes == [0, 0], [w.output()[-3000:] for w in workers]

    # `celery purge`: queued tasks go, with no worker to run them
    _send(app_module, "main", list(range(1000, 1025)))
    out = subprocess.run([str(BIN / "celery"), "-A", "tests.apps.celery_app", "purge", "-f",
                          "-Q", "main"], cwd=ROOT, env=env_with(NATSYNC_TEST_URL=server.url),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Purged 25 messages" in out.stdout, out.stdout + out.stderr


def test_a_sigkilled_worker_loses_nothing_and_repeats_only_its_tasks_in_flight(
        server: NatsServer, app_module: ModuleType, tmp_path: Path) -> None:
    runs_file = tmp_path / "runs.txt"
    victim = celery_worker(tmp_path, "victim", "kill", "prefork", 2, runs_file, server.url)
    survivor = celery_worker(tmp_path, "survivor", "kill", "threads", 2, runs_file, server.url)
    try:
        victim.wait_for("ready.")
        survivor.wait_for("ready.")
        keys = list(range(150))
        _send(app_module, "kill", keys, seconds=0.05)
        wait_for(lambda: len(runs(runs_file)) >= 30, 60, "30 runs before the kill")
        victim.kill()
        wait_for(lambda: len({r.key for r in runs(runs_file)}) >= 150, 90, "every task run")
        time.sleep(1.0)  # anything still to be redelivered would show up now
        grouped = check_at_least_once(runs(runs_file), [str(k) for k in keys])
        twice = [k for k, rs in grouped.items() if len(rs) > 1]
        assert len(twice) <= 2 * 2 + 4, twice  # the victim's prefetch window at most
    finally:
        survivor.kill()


def test_a_server_restart_mid_run_loses_nothing(
        server: NatsServer, app_module: ModuleType, tmp_path: Path) -> None:
    runs_file = tmp_path / "runs.txt"
    worker = celery_worker(tmp_path, "steady", "restart", "prefork", 2, runs_file, server.url)
    try:
        worker.wait_for("ready.")
        keys = list(range(120))
        sent: List[Any] = []
        restarter = threading.Timer(0.3, lambda: server.restart())
        restarter.start()
        for k in keys:  # publishing through the restart: each returns once stored
            sent += _send(app_module, "restart", [k], seconds=0.01)
            time.sleep(0.01)
        restarter.join()
        wait_for(lambda: len({r.key for r in runs(runs_file)}) >= 120, 90,
                   "every task run after the restart")
        check_at_least_once(runs(runs_file), [str(k) for k in keys])
        assert sent[-1].get(timeout=30) == keys[-1]
    finally:
        assert worker.stop() == 0, worker.output()[-3000:]


def test_result_backend_bucket_ttl_keys_and_atomic_counter(
        server: NatsServer, request: pytest.FixtureRequest) -> None:
    """No worker needed: the bucket's TTL is result_expires, odd task ids are valid keys,
    and the chord counter counts every increment once across threads."""
    from celery import Celery

    from natsync.contrib.celery import KeyValueBackend

    app = Celery("ttl_check")
    app.conf.update(result_expires=90, result_backend_transport_options={"bucket": "ttl_check"})
    backend = KeyValueBackend(app, url=server.url)
    request.addfinalizer(backend.close)
    assert backend.kv.status().ttl == 90
    backend.store_result("odd id: é.*>", {"x": 1}, "SUCCESS")
    assert backend.get_task_meta("odd id: é.*>")["result"] == {"x": 1}
    totals: List[int] = []

    def bump() -> None:
        for _ in range(25):
            totals.append(backend.incr("chord-unlock-g1"))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(totals) == list(range(1, 101))  # each value handed out exactly once
    assert "secret" not in KeyValueBackend(app, url="nats://u:secret@h:1").as_uri()
    with pytest.raises(ImproperlyConfigured, match="unknown result_backend_transport_options"):
        app.conf.result_backend_transport_options = {"bukket": "typo"}
        KeyValueBackend(app, url=server.url)
