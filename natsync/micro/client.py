"""Discovery: find running service instances and read their INFO and STATS."""

from __future__ import annotations

import json
import logging
from typing import Callable, List, Mapping, Optional, TypeVar

from ..client import Client as NatsClient
from ..errors import NoRespondersError
from .api import PingInfo, ServiceInfo, ServiceStats
from .config import API_PREFIX, control_subject
from .errors import InvalidResponseError

log = logging.getLogger("natsync.micro")

T = TypeVar("T")


class Client:
    """Asks every service instance (or those of one name, or one instance) who they are.

    Each call sends one request to `$SRV.<VERB>[.<name>[.<id>]]` and collects the answers
    until `timeout` seconds have passed, or `stall` seconds passed without a new one, or
    (with an `id`) the instance answered. Answers that are not valid documents are logged
    and skipped.
    """

    def __init__(self, nc: NatsClient, prefix: str = API_PREFIX) -> None:
        self.nc = nc
        self.prefix = prefix

    def ping(self, name: Optional[str] = None, id: Optional[str] = None,
             timeout: float = 1.0, stall: Optional[float] = None) -> List[PingInfo]:
        """The identities of the instances that answered `$SRV.PING`."""
        return self._collect("PING", PingInfo.from_dict, name, id, timeout, stall)

    def info(self, name: Optional[str] = None, id: Optional[str] = None,
             timeout: float = 1.0, stall: Optional[float] = None) -> List[ServiceInfo]:
        """The descriptions and endpoints of the instances that answered `$SRV.INFO`."""
        return self._collect("INFO", ServiceInfo.from_dict, name, id, timeout, stall)

    def stats(self, name: Optional[str] = None, id: Optional[str] = None,
              timeout: float = 1.0, stall: Optional[float] = None) -> List[ServiceStats]:
        """The statistics of the instances that answered `$SRV.STATS`."""
        return self._collect("STATS", ServiceStats.from_dict, name, id, timeout, stall)

    def _collect(self, verb: str, parse: Callable[[Mapping[str, object]], T],
                 name: Optional[str], id: Optional[str], timeout: float,
                 stall: Optional[float]) -> List[T]:
        """Scatter one request, gather and parse the replies."""
        subject = control_subject(verb, name, id, self.prefix)
        found: List[T] = []
        try:
            for msg in self.nc.request_many(subject, b"", timeout=timeout, stall=stall,
                                            max_msgs=1 if id is not None else None):
                try:
                    found.append(parse(json.loads(msg.data)))
                except (ValueError, InvalidResponseError) as exc:
                    log.warning("natsync.micro: skipped a bad answer on %s: %s", subject, exc)
        except NoRespondersError:
            pass  # no instance is listening: nothing to discover
        return found

    def __repr__(self) -> str:
        return f"<micro.Client prefix={self.prefix!r}>"
