"""The NATS Services API (ADR-32): discoverable, monitorable request/reply services.

    svc = natsync.micro.add_service(nc, name="echo", version="1.0.0")
    svc.add_endpoint("echo", lambda req: req.respond(req.data))

Services interoperate with nats.go, nats-py and the `nats` CLI (`nats micro ls`).
"""

from .api import (
    INFO_RESPONSE_TYPE,
    PING_RESPONSE_TYPE,
    STATS_RESPONSE_TYPE,
    EndpointInfo,
    EndpointStats,
    PingInfo,
    ServiceInfo,
    ServiceStats,
    parse_response,
)
from .client import Client
from .config import API_PREFIX, DEFAULT_QUEUE_GROUP, ServiceConfig, StatsHandler, control_subject
from .endpoint import Endpoint, Handler
from .errors import (
    ConfigError,
    HandlerError,
    InvalidResponseError,
    ServiceError,
    ServiceStoppedError,
)
from .request import ERROR_CODE_HEADER, ERROR_HEADER, Request
from .service import Group, Service, add_service

__all__ = [
    "API_PREFIX", "DEFAULT_QUEUE_GROUP", "ERROR_CODE_HEADER", "ERROR_HEADER",
    "INFO_RESPONSE_TYPE", "PING_RESPONSE_TYPE", "STATS_RESPONSE_TYPE",
    "Client", "ConfigError", "Endpoint", "EndpointInfo", "EndpointStats", "Group", "Handler",
    "HandlerError", "InvalidResponseError", "PingInfo", "Request", "Service", "ServiceConfig",
    "ServiceError", "ServiceInfo", "ServiceStats", "ServiceStoppedError", "StatsHandler",
    "add_service", "control_subject", "parse_response",
]
