"""Real worker processes for the Celery and Dramatiq tests, and the record of task runs
they leave: each run appends `kind key pid redelivered time` to a file."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

from .conftest import wait_for
from .procs import ROOT, env_with

BIN = Path(os.sys.executable).parent  # the venv's bin: celery and dramatiq live there


@dataclass(frozen=True)
class Run:
    kind: str
    key: str
    pid: int
    redelivered: bool
    at: float


def runs(path: Path, kind: str = "") -> List[Run]:
    """The runs recorded so far (of one kind, if given)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5 and (not kind or parts[0] == kind):
            out.append(Run(parts[0], parts[1], int(parts[2]), parts[3] == "1", float(parts[4])))
    return out


def by_key(found: Sequence[Run]) -> Dict[str, List[Run]]:
    grouped: Dict[str, List[Run]] = collections.defaultdict(list)
    for run in found:
        grouped[run.key].append(run)
    return grouped


class Worker:
    """A worker command in its own process group (SIGKILL takes its children too), its
    output in a log file."""

    def __init__(self, args: Sequence[str], log: Path, **env: str) -> None:
        self.log = log
        self.args = list(args)
        self.terminated = False
        with open(log, "w") as out:
            self.popen = subprocess.Popen(self.args, env=env_with(**env), cwd=ROOT,
                                          stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        def printed() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.args} exited ({self.popen.returncode}):\n"
                                     f"{self.output()[-4000:]}")
            return text in self.output()
        wait_for(printed, timeout, f"{text!r} in the output of {self.args}")

    def terminate(self) -> None:
        """Start a warm shutdown (SIGTERM to the main process, once), without waiting."""
        if self.popen.poll() is None and not self.terminated:
            self.terminated = True
            self.popen.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the whole process group: no goodbye, no ack, no nak."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM to the main process (a warm shutdown) and wait; SIGKILL if it hangs.
        The exit code."""
        self.terminate()
        if self.popen.returncode is None:
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        return self.popen.returncode


def stop_all(workers: Sequence[Worker]) -> List[int]:
    """Warm-shut every worker down at once; their exit codes."""
    for w in workers:
        w.terminate()
    return [w.stop() for w in workers]


def celery_worker(tmp: Path, name: str, queue: str, pool: str, concurrency: int,
                  runs_file: Path, url: str, vt: float = 3.0) -> Worker:
    """`celery worker` of tests/apps/celery_app.py on `queue`."""
    return Worker([str(BIN / "celery"), "-A", "tests.apps.celery_app", "worker", "-P", pool,
                   "-c", str(concurrency), "-n", f"{name}@%h", "-Q", queue,
                   "--without-mingle", "-l", "info"],
                  tmp / f"{name}.log", NATSYNC_TEST_URL=url, NATSYNC_TEST_RUNS=str(runs_file),
                  NATSYNC_TEST_VT=str(vt))


def dramatiq_worker(tmp: Path, name: str, queue: str, processes: int, threads: int,
                    runs_file: Path, url: str, vt: float = 3.0) -> Worker:
    """`dramatiq` worker processes of tests/apps/dramatiq_app.py on `queue`."""
    return Worker([str(BIN / "dramatiq"), "tests.apps.dramatiq_app", "-p", str(processes),
                   "-t", str(threads), "-Q", queue, "--worker-shutdown-timeout", "5000"],
                  tmp / f"{name}.log", NATSYNC_TEST_URL=url, NATSYNC_TEST_RUNS=str(runs_file),
                  NATSYNC_TEST_VT=str(vt))


def check_at_least_once(found: Sequence[Run], keys: Sequence[str]) -> Dict[str, List[Run]]:
    """Every key ran; a key that ran twice or more has a redelivered run (it was in flight
    when its first worker died, or its ack did not reach the server)."""
    grouped = by_key(found)
    missing = sorted(set(keys) - set(grouped))
    assert not missing, f"never ran: {missing[:20]} ({len(missing)} of {len(keys)})"
    for key, its_runs in grouped.items():
        if len(its_runs) > 1:
            assert any(r.redelivered for r in its_runs), (key, its_runs)
    return grouped
