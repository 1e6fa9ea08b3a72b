"""One nats-server process: start, wait until ready, stop, kill, pause, lame duck, logs.

Every started process is tracked in a registry and killed at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal as _signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any, Dict, List, Mapping, Sequence, Set, Union

from ..errors import Error
from .binary import ServerStartError, find_server_binary, free_port
from .config import render_config
from .scoped import Scoped

_READY_MARKER = "Server is ready"
_LOG_TAIL_LINES = 40

# --------------------------------------------------------------------------- registry

_REGISTRY: Set[NatsServer] = set()
_REGISTRY_LOCK = threading.Lock()


def _register(server: NatsServer) -> None:
    with _REGISTRY_LOCK:
        _REGISTRY.add(server)


def _unregister(server: NatsServer) -> None:
    with _REGISTRY_LOCK:
        _REGISTRY.discard(server)


@atexit.register
def _close_all() -> None:
    """Stop every server still open when the interpreter exits."""
    with _REGISTRY_LOCK:
        servers = list(_REGISTRY)
    for server in servers:
        with contextlib.suppress(Exception):
            server.close(timeout=2.0)


# --------------------------------------------------------------------------- server


def _format_host(host: str) -> str:
    """Bracket IPv6 literals for use in URLs."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class NatsServer(Scoped):
    """One ``nats-server`` process bound to a local port, restartable on that same port.

    The object owns a temp dir holding the log, the rendered config and (by default)
    the JetStream store; ``close()`` stops the process and removes that dir.
    """

    def __init__(
        self,
        port: int | None = None,
        jetstream: bool = False,
        store_dir: Union[str, Path] | None = None,
        config: Union[str, Mapping[str, Any]] | None = None,
        args: Sequence[str] = (),
        host: str = "127.0.0.1",
        *,
        http_port: int | None = None,
        startup_timeout: float = 10.0,
        binary: str | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._binary = binary or find_server_binary()
        self._host = host
        self._port_fixed = port is not None
        self._port = port if port is not None else free_port()
        self._http_port = http_port
        self._jetstream = jetstream
        self._args = [str(a) for a in args]
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._paused = False
        self._closed = False
        self._ever_ready = False
        self._launch_offset = 0

        config_text: str | None = None
        if config is not None:
            config_text = config if isinstance(config, str) else render_config(config)

        self._tmpdir = tempfile.mkdtemp(prefix="natsync-server-")
        _register(self)
        self._log_path = os.path.join(self._tmpdir, "nats-server.log")
        self._config_path: str | None = None
        if config_text is not None:
            self._config_path = os.path.join(self._tmpdir, "nats-server.conf")
            with open(self._config_path, "w", encoding="utf-8") as fh:
                fh.write(config_text)
        self._store_dir: str | None
        if store_dir is not None:
            self._store_dir = os.path.abspath(os.fspath(store_dir))
        elif jetstream:
            self._store_dir = os.path.join(self._tmpdir, "store")
        else:
            self._store_dir = None

    # ---------------------------------------------------------------- properties

    @property
    def host(self) -> str:
        """The address the server binds its client listener to."""
        return self._host

    @property
    def port(self) -> int:
        """The client port; it stays the same across restarts."""
        return self._port

    @property
    def url(self) -> str:
        """The ``nats://host:port`` URL clients connect to."""
        return f"nats://{_format_host(self._host)}:{self._port}"

    @property
    def http_port(self) -> int | None:
        """The monitoring HTTP port, if one was requested."""
        return self._http_port

    @property
    def monitor_url(self) -> str | None:
        """Base URL of the monitoring endpoint (``/varz``, ``/routez`` ...), if enabled."""
        if self._http_port is None:
            return None
        return f"http://{_format_host(self._host)}:{self._http_port}"

    @property
    def jetstream(self) -> bool:
        """Whether the server is started with JetStream enabled."""
        return self._jetstream

    @property
    def store_dir(self) -> str | None:
        """The JetStream store directory (kept across restarts), or None."""
        return self._store_dir

    @property
    def pid(self) -> int | None:
        """PID of the running process, or None when it is not running."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        """True while the process is alive (possibly paused)."""
        return self.pid is not None

    @property
    def log_path(self) -> str:
        """Path of the file capturing the server's stdout and stderr."""
        return self._log_path

    def _log_bytes(self, offset: int = 0) -> bytes:
        """The raw captured log from byte *offset* on."""
        try:
            with open(self._log_path, "rb") as fh:
                fh.seek(offset)
                return fh.read()
        except FileNotFoundError:
            return b""

    def log_text(self) -> str:
        """The whole captured server log (all starts so far)."""
        return self._log_bytes().decode("utf-8", "replace")

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last *lines* lines of the log, for error messages."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def command(self) -> List[str]:
        """The command line used to launch the server."""
        cmd = [self._binary]
        if self._config_path is not None:
            cmd += ["-c", self._config_path]
        cmd += ["-a", self._host, "-p", str(self._port)]
        if self._http_port is not None:
            cmd += ["-m", str(self._http_port)]
        if self._jetstream:
            cmd.append("-js")
            if self._store_dir is not None:
                cmd += ["-sd", self._store_dir]
        cmd += self._args
        return cmd

    # ---------------------------------------------------------------- lifecycle

    def start(self, wait: bool = True) -> NatsServer:
        """Launch the process and, unless *wait* is false, block until it serves clients."""
        with self._lock:
            if self._closed:
                raise Error("this NatsServer was closed; create a new one")
            if self.running:
                return self
            attempts = 1 if (self._port_fixed or self._ever_ready) else 3
            for attempt in range(attempts):
                offset = self._launch()
                if not wait:
                    return self
                try:
                    self.wait_ready(log_offset=offset)
                    return self
                except ServerStartError:
                    self.kill()
                    port_taken = b"address already in use" in self._log_bytes(offset).lower()
                    if attempt + 1 < attempts and port_taken:
                        self._port = free_port()
                        continue
                    raise
            raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self) -> int:
        """Spawn the process with output appended to the log; return the log offset."""
        self._reap()
        if self._store_dir is not None:
            os.makedirs(self._store_dir, exist_ok=True)
        log_file = open(self._log_path, "ab")  # kept open while running
        offset = log_file.tell()
        try:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self._tmpdir,
            )
        except BaseException:
            log_file.close()
            raise
        self._log_file = log_file
        self._paused = False
        self._launch_offset = offset
        return offset

    def wait_ready(self, timeout: float | None = None, log_offset: int | None = None) -> None:
        """Block until the server sends ``INFO`` on its port and logged that it is ready.

        Raises ServerStartError with the log tail if it exits or the time runs out.
        """
        limit = self._startup_timeout if timeout is None else timeout
        if log_offset is None:
            log_offset = self._launch_offset
        deadline = time.monotonic() + limit
        delay = 0.005
        got_info = False
        while True:
            proc = self._proc
            if proc is None:
                raise ServerStartError("nats-server was not started")
            code = proc.poll()
            if code is not None:
                raise ServerStartError(
                    f"nats-server exited with code {code} during startup:\n{self.log_tail()}"
                )
            if not got_info:
                got_info = self._probe_info()
            if got_info:
                if _READY_MARKER.encode() in self._log_bytes(log_offset):
                    self._ever_ready = True
                    return
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"nats-server on port {self._port} did not become ready within "
                    f"{limit:g}s:\n{self.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _probe_info(self) -> bool:
        """Connect once to the client port and check the greeting is an ``INFO`` line."""
        try:
            with socket.create_connection((self._host, self._port), timeout=0.5) as sock:
                data = b""
                while b"\r\n" not in data and len(data) < 65536:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data.startswith(b"INFO ")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after *timeout*); idempotent."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                    if self._paused and hasattr(_signal, "SIGCONT"):
                        proc.send_signal(_signal.SIGCONT)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait(timeout=timeout)
            self._reap()

    def _reap(self) -> None:
        """Forget a finished process and close its log handle."""
        proc = self._proc
        if proc is not None and proc.poll() is not None:
            self._proc = None
        if self._proc is None and self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._paused = False

    def restart(self, wait: bool = True) -> NatsServer:
        """Stop and start again on the same port with the same store directory."""
        with self._lock:
            self.stop()
            return self.start(wait=wait)

    def kill(self) -> None:
        """SIGKILL the process (an abrupt crash, for fault-injection tests)."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=10)
            self._reap()

    def signal(self, sig: int) -> None:
        """Send signal *sig* to the running process."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise Error("nats-server is not running")
        proc.send_signal(sig)

    def pause(self) -> None:
        """Freeze the process with SIGSTOP: sockets stay open but nothing is answered."""
        if not hasattr(_signal, "SIGSTOP"):
            raise NotImplementedError("pause() needs POSIX signals")
        self.signal(_signal.SIGSTOP)
        self._paused = True
        self._wait_proc_state(stopped=True)

    def resume(self) -> None:
        """Continue a paused process with SIGCONT."""
        if not hasattr(_signal, "SIGCONT"):
            raise NotImplementedError("resume() needs POSIX signals")
        self.signal(_signal.SIGCONT)
        self._paused = False
        self._wait_proc_state(stopped=False)

    def _wait_proc_state(self, stopped: bool, timeout: float = 5.0) -> None:
        """Wait until Linux reports every thread (un)stopped, as signals act asynchronously.

        Without /proc (non-Linux) this returns at once.
        """
        pid = self.pid
        if pid is None:
            return
        task_dir = f"/proc/{pid}/task"
        deadline = time.monotonic() + timeout
        delay = 0.001
        while time.monotonic() < deadline:
            try:
                states = []
                for tid in os.listdir(task_dir):
                    with open(f"{task_dir}/{tid}/stat", "rb") as fh:
                        stat = fh.read()
                    # The state letter follows the parenthesised command name.
                    end = stat.rfind(b")")
                    states.append(stat[end + 2 : end + 3])
            except OSError:
                return
            if all((state in (b"T", b"t")) == stopped for state in states):
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def lame_duck(self) -> None:
        """Put the server in lame-duck mode: it refuses new clients and sheds existing ones.

        With no clients connected nats-server then exits almost at once.
        """
        if hasattr(_signal, "SIGUSR2"):
            self.signal(_signal.SIGUSR2)
            return
        pid = self.pid
        if pid is None:
            raise Error("nats-server is not running")
        subprocess.run(
            [self._binary, "--signal", f"ldm={pid}"],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
        )

    def monitor(self, endpoint: str, timeout: float = 2.0) -> Dict[str, Any]:
        """GET a monitoring endpoint such as ``"varz"`` and return the decoded JSON."""
        base = self.monitor_url
        if base is None:
            raise Error("this NatsServer has no monitoring port (pass http_port=...)")
        url = f"{base}/{endpoint.lstrip('/')}"
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data: Dict[str, Any] = json.loads(resp.read().decode("utf-8"))
        return data

    def close(self, timeout: float = 10.0) -> None:
        """Stop the process and delete the temp dir (log, config, default store)."""
        with self._lock:
            try:
                self.stop(timeout=timeout)
            finally:
                self._closed = True
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                _unregister(self)

    def __repr__(self) -> str:
        state = "running" if self.running else ("closed" if self._closed else "stopped")
        return f"<NatsServer {self.url} {state}>"
