"""A cluster of nats-server processes on loopback (routes, JetStream, R3 streams)."""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Mapping, Sequence

from .binary import ServerStartError, _free_ports
from .scoped import Scoped
from .server import NatsServer

# --------------------------------------------------------------------------- cluster


class NatsCluster(Scoped):
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
                    "address already in use" in s.log_text().lower() for s in self.servers
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
                tails = "\n".join(f"--- {s.url}\n{s.log_tail(15)}" for s in self.servers)
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
                raise ServerStartError(f"{server.url} exited:\n{server.log_tail()}")
            routez = server.monitor("routez")
            # Since nats-server 2.10 one peer can have several routes (route pooling),
            # so count distinct remote servers instead of trusting num_routes.
            peers = {r.get("remote_id") for r in routez.get("routes") or ()}
            if len(peers) < self._size - 1:
                return False
        return True

    def _jetstream_ready(self) -> bool:
        """True when every node knows the JetStream meta-leader and the leader sees every
        other node current (before that, an API request such as a stream's creation can
        go unanswered)."""
        current = False
        for server in self.servers:
            meta = server.monitor("jsz").get("meta_cluster") or {}
            if not meta.get("leader"):
                return False
            replicas = meta.get("replicas") or ()
            if len(replicas) == self._size - 1 and all(r.get("current") for r in replicas):
                current = True
        return current or self._size == 1

    def wait_routed(self, timeout: float | None = None) -> None:
        """Block until each node is routed to all the others."""
        self._poll(self._fully_routed, "full route mesh", timeout)

    def wait_jetstream(self, timeout: float | None = None) -> None:
        """Block until JetStream has elected a meta-leader seen by every node, with every
        other node current."""
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

    def __repr__(self) -> str:
        return f"<NatsCluster {self._name!r} {self.urls}>"
