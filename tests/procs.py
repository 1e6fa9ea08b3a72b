"""Subprocesses for the contrib tests: start, read output lines with a deadline, stop."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
DJANGO_SITE = ROOT / "examples" / "django_site"


def env_with(**extra: str) -> dict[str, str]:
    """This environment plus `extra`, with the repository importable."""
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Proc:
    """A child process whose combined output is collected line by line on a thread."""

    def __init__(self, cmd: Sequence[str], env: Mapping[str, str],
                 cwd: Optional[Path] = None) -> None:
        self.cmd = list(cmd)
        self.popen = subprocess.Popen(self.cmd, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        """Block until a line containing `text` was printed; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.popen.poll() is not None and self._new.empty():
                raise AssertionError(f"{text!r} not printed by {self.cmd}:\n{self.output}")
            try:
                self._new.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                pass

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send `sig` and wait for the exit; its status (killed and failing after timeout)."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.cmd} did not exit on {sig!r}:\n{self.output}") from None
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
        self._reader.join(5)


def manage(*args: str) -> list[str]:
    """The command line of the example Django site's manage.py."""
    return [sys.executable, str(DJANGO_SITE / "manage.py"), *args]
