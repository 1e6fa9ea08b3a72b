"""examples/js_worker_processes.py: SIGTERM mid-stream loses no job and repeats none needlessly."""

from __future__ import annotations

import collections
import importlib.util
import sys
from types import ModuleType

from natsync.testing import NatsServer

from .conftest import EXAMPLES, run_example


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("js_worker_processes",
                                                  EXAMPLES / "js_worker_processes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_sigterm_mid_stream_loses_nothing(nats_server: NatsServer) -> None:
    said: list[str] = []
    outcome = _example().run(nats_server.url, jobs=80, workers=3, say=said.append)
    jobs = {f"job-{i}" for i in range(80)}
    done = collections.defaultdict(list)
    for job, delivered, _pid in outcome.done:
        done[job].append(delivered)
    assert set(done) == jobs, f"lost: {sorted(jobs - set(done))}"
    for job, deliveries in done.items():
        if len(deliveries) > 1:  # done twice: only allowed for a redelivered message
            assert max(deliveries) > 1, (job, deliveries)
    assert outcome.exit_codes == [0, 0, 0]
    assert 0 < outcome.stopped_early < 80  # the SIGTERM came mid-stream
    assert outcome.left_in_queue == 0
    assert any("exited (0) after" in line for line in said)


def test_runs_as_a_script_with_an_embedded_server() -> None:
    out = run_example("js_worker_processes.py", None).stdout
    assert "Started an embedded nats-server with JetStream" in out
    assert "Worker 1 got SIGTERM mid-stream and exited (0) after" in out
    assert "of 60 jobs done, 0 lost;" in out and "worker exit codes [0, 0, 0]" in out
