"""A service: endpoints and groups, the nine monitoring subscriptions, and its lifecycle."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional

from ..client import Client as NatsClient
from ..errors import ConnectionClosedError, Error, FlushTimeoutError
from ..msg import Msg
from ..nuid import next_nuid
from ..subscription import Subscription
from .api import PingInfo, ServiceInfo, ServiceStats
from .config import (
    DEFAULT_QUEUE_GROUP,
    ServiceConfig,
    check_endpoint_subject,
    check_group_prefix,
    check_metadata,
    check_name,
    check_queue_group,
    control_subject,
    resolve_queue_group,
)
from .dispatch import Dispatcher
from .endpoint import Endpoint, Handler, _one_line
from .errors import ConfigError, ServiceStoppedError
from .request import ERROR_CODE_HEADER, ERROR_HEADER

log = logging.getLogger("natsync.micro")

VERBS = ("PING", "INFO", "STATS")
_FLUSH_TIMEOUT = 5.0


#: Starts an endpoint of the service and keeps it: (name, subject, queue group, queue group
#: disabled, metadata, handler, max_concurrency) -> the endpoint, serving.
AddEndpoint = Callable[[str, str, str, bool, Optional[Dict[str, str]], Handler, int], Endpoint]


class _EndpointAdder:
    """What services and groups share: adding endpoints and groups under a subject prefix."""

    _add_endpoint: AddEndpoint
    _prefix: str
    _queue_group: str
    _queue_group_disabled: bool

    def add_endpoint(self, name: str, handler: Handler, subject: Optional[str] = None,
                     queue_group: Optional[str] = None,
                     metadata: Optional[Mapping[str, str]] = None, max_concurrency: int = 1,
                     queue_group_disabled: bool = False) -> Endpoint:
        """Serve `subject` (default: `name`, after the group's prefix) with `handler`.

        `queue_group` None inherits the group's or service's (default "q");
        `queue_group_disabled=True` makes every instance get every request.
        `max_concurrency` > 1 runs up to that many requests of this endpoint at once.
        """
        check_name(name, "endpoint")
        own = check_endpoint_subject(subject if subject is not None else name)
        full = f"{self._prefix}.{own}" if self._prefix else own
        check_queue_group(queue_group)
        group, disabled = resolve_queue_group(queue_group, queue_group_disabled,
                                              self._queue_group, self._queue_group_disabled)
        meta = check_metadata(metadata, "endpoint")
        if not callable(handler):
            raise ConfigError(f"handler must be callable, got {handler!r}")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) \
                or max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        return self._add_endpoint(name, full, group, disabled, meta, handler, max_concurrency)

    def add_group(self, name: str, queue_group: Optional[str] = None,
                  queue_group_disabled: bool = False) -> Group:
        """A group: endpoints added to it get subjects `name.<subject>` and its queue group."""
        prefix = check_group_prefix(name)
        check_queue_group(queue_group)
        group, disabled = resolve_queue_group(queue_group, queue_group_disabled,
                                              self._queue_group, self._queue_group_disabled)
        full = f"{self._prefix}.{prefix}" if self._prefix else prefix
        return Group(self._add_endpoint, full, group, disabled)


class Group(_EndpointAdder):
    """A subject prefix (and default queue group) for endpoints; groups nest.

    Its endpoints are started and kept by the service, through `add_endpoint`.
    """

    def __init__(self, add_endpoint: AddEndpoint, prefix: str, queue_group: str,
                 queue_group_disabled: bool) -> None:
        self._add_endpoint = add_endpoint
        self._prefix = prefix
        self._queue_group = queue_group
        self._queue_group_disabled = queue_group_disabled

    @property
    def prefix(self) -> str:
        """The subject prefix of this group's endpoints."""
        return self._prefix

    @property
    def queue_group(self) -> str:
        """The queue group its endpoints inherit ("" when disabled)."""
        return self._queue_group

    def __repr__(self) -> str:
        return f"<Group {self._prefix!r} queue_group={self._queue_group!r}>"


class Service(_EndpointAdder):
    """A running service instance: create it with `add_service()`, end it with `stop()`."""

    def __init__(self, nc: NatsClient, config: ServiceConfig) -> None:
        if config.metadata is None:
            config = dataclasses.replace(config, metadata={})
        if config.queue_group is None:
            config = dataclasses.replace(config, queue_group=DEFAULT_QUEUE_GROUP)
        config.validate()
        self.nc = nc
        self.config = dataclasses.replace(config, metadata=dict(config.metadata))
        self.id = next_nuid()
        self._prefix = ""
        self._queue_group, self._queue_group_disabled = resolve_queue_group(
            config.queue_group, config.queue_group_disabled, "", False)
        self._lock = threading.Lock()
        self._endpoints: List[Endpoint] = []
        self._dispatchers: List[Dispatcher] = []  # what serves each endpoint, in that order
        self._monitors: List[Subscription] = []
        self._stopped = False
        self._started = datetime.now(timezone.utc)
        self._ping_json = self.ping().to_json()
        self._start_monitoring()

    # --- identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The service's name, shared by all its instances."""
        return self.config.name

    @property
    def version(self) -> str:
        """The service's semantic version."""
        return self.config.version

    @property
    def description(self) -> str:
        """The service's description."""
        return self.config.description

    @property
    def metadata(self) -> Dict[str, str]:
        """The service's metadata (a copy)."""
        return dict(self.config.metadata)

    @property
    def started(self) -> datetime:
        """When the service started (or was last reset), in UTC."""
        return self._started

    @property
    def endpoints(self) -> List[Endpoint]:
        """The endpoints, in the order they were added."""
        with self._lock:
            return list(self._endpoints)

    @property
    def stopped(self) -> bool:
        """True once `stop()` was called or the connection closed."""
        return self._stopped or self.nc.is_closed

    # --- lifecycle ------------------------------------------------------------------------

    def _start_monitoring(self) -> None:
        """Subscribe the nine $SRV subjects (no queue group: every instance answers)."""
        handlers: Dict[str, Callable[[Msg], None]] = {
            "PING": lambda msg: self._answer(msg, "PING", lambda: self._ping_json),
            "INFO": lambda msg: self._answer(msg, "INFO", lambda: self.info().to_json()),
            "STATS": lambda msg: self._answer(msg, "STATS", lambda: self.stats().to_json()),
        }
        try:
            for verb in VERBS:
                for subject in (control_subject(verb), control_subject(verb, self.name),
                                control_subject(verb, self.name, self.id)):
                    self._monitors.append(self.nc.subscribe(subject, cb=handlers[verb]))
        except BaseException:
            for sub in self._monitors:
                if sub.is_valid:
                    sub.unsubscribe()
            self._stopped = True
            raise
        self._flush()

    def _add_endpoint(self, name: str, subject: str, queue_group: str,
                      queue_group_disabled: bool, metadata: Optional[Dict[str, str]],
                      handler: Handler, max_concurrency: int) -> Endpoint:
        """Start a new endpoint (on a dispatcher this service stops) and make sure the
        server knows about it."""
        dispatcher = Dispatcher(self.nc, name, f"natsync-micro-{self.name}-{name}",
                                max_concurrency)
        with self._lock:
            if self._stopped:
                raise ServiceStoppedError()
            endpoint = Endpoint(self, name, subject, queue_group, queue_group_disabled,
                                metadata, handler, max_concurrency, dispatcher)
            self._endpoints.append(endpoint)
            self._dispatchers.append(dispatcher)
        self._flush()
        return endpoint

    def _flush(self) -> None:
        """Let the server process our SUBs, so a request sent next is served."""
        if not self.nc.is_connected:
            return  # the subscriptions are sent (or replayed) when the connection is back
        try:
            self.nc.flush(_FLUSH_TIMEOUT)
        except FlushTimeoutError:
            log.warning("natsync.micro: service %r: the server did not confirm its "
                        "subscriptions within %ss", self.name, _FLUSH_TIMEOUT)

    def stop(self, timeout: Optional[float] = None) -> None:
        """Drain every endpoint (requests already received are handled) and the monitoring
        subscriptions, then mark the service stopped. Idempotent.

        Waits up to `timeout` seconds in all (default: the connection's drain_timeout) and
        raises DrainTimeoutError if handlers were still busy then.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            dispatchers = list(self._dispatchers)
            monitors = list(self._monitors)
        wait = self.nc.options.drain_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        failure: Optional[Exception] = None
        for dispatcher in dispatchers:
            try:
                dispatcher.stop(deadline)
            except Error as exc:
                failure = failure or exc
        for sub in monitors:
            try:
                if sub.is_valid:
                    sub.drain(timeout=max(deadline - time.monotonic(), 0.001))
            except ConnectionClosedError:
                break
            except Error as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def reset(self) -> None:
        """Zero every endpoint's statistics and restart the `started` clock."""
        with self._lock:
            for endpoint in self._endpoints:
                endpoint.reset()
            self._started = datetime.now(timezone.utc)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- monitoring -----------------------------------------------------------------------

    def ping(self) -> PingInfo:
        """What this instance answers to `$SRV.PING`."""
        return PingInfo(name=self.name, id=self.id, version=self.version,
                        metadata=self.metadata)

    def info(self) -> ServiceInfo:
        """What this instance answers to `$SRV.INFO`."""
        return ServiceInfo(name=self.name, id=self.id, version=self.version,
                           metadata=self.metadata, description=self.description,
                           endpoints=[e.info() for e in self.endpoints])

    def stats(self) -> ServiceStats:
        """What this instance answers to `$SRV.STATS`, stats-handler data included."""
        with self._lock:
            started = self._started
            endpoints = list(self._endpoints)
        snapshots = []
        for endpoint in endpoints:
            snapshot = endpoint.stats()
            snapshot.data = self._custom_stats(endpoint)
            snapshots.append(snapshot)
        return ServiceStats(name=self.name, id=self.id, version=self.version, started=started,
                            metadata=self.metadata, endpoints=snapshots)

    def _custom_stats(self, endpoint: Endpoint) -> Any:
        """The stats handler's data for `endpoint`; None (left out) if it fails or is not JSON."""
        handler = self.config.stats_handler
        if handler is None:
            return None
        try:
            data = handler(endpoint)
            json.dumps(data)
        except Exception:
            log.error("natsync.micro: stats_handler of service %r failed for endpoint %r",
                      self.name, endpoint.name, exc_info=True)
            return None
        return data

    def _answer(self, msg: Msg, verb: str, payload: Callable[[], bytes]) -> None:
        """Answer a monitoring request (a 500 service error if the document cannot be made)."""
        if not msg.reply:
            return
        try:
            body = payload()
        except Exception as exc:
            log.error("natsync.micro: service %r could not answer %s", self.name, verb,
                      exc_info=True)
            msg.respond(b"", headers={ERROR_HEADER: _one_line(f"Error handling {verb} request: {exc}"),
                                      ERROR_CODE_HEADER: "500"})
            return
        try:
            msg.respond(body)
        except ConnectionClosedError:
            pass  # closing while answering: the requester times out, as with any server loss

    def __repr__(self) -> str:
        state = "stopped" if self.stopped else "running"
        return f"<Service {self.name!r} {self.version} id={self.id} {state}>"


def add_service(nc: NatsClient, config: Optional[ServiceConfig] = None, **kw: Any) -> Service:
    """Start a service on `nc`: from `config`, from keyword settings, or `config` with
    keyword overrides (`add_service(nc, name="echo", version="1.0.0")`).

    Raises ConfigError for an invalid name, version, queue group or metadata.
    """
    if config is None:
        try:
            config = ServiceConfig(**kw)
        except TypeError as exc:
            raise ConfigError(f"invalid service settings: {exc}") from None
    elif kw:
        try:
            config = dataclasses.replace(config, **kw)
        except TypeError as exc:
            raise ConfigError(f"invalid service settings: {exc}") from None
    return Service(nc, config)
