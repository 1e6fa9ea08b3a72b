"""Exceptions of the Services API, all subclasses of natsync.errors.Error."""

from __future__ import annotations

from typing import Optional, Union

from ..errors import Error
from ..headers import HeadersLike


class ServiceError(Error):
    """Base class of every error raised by natsync.micro."""


class ConfigError(ServiceError, ValueError):
    """A service, group or endpoint setting (or a call argument) is not valid."""


class ServiceStoppedError(ServiceError):
    """The service was stopped; it accepts no new endpoints."""

    def __init__(self, message: str = "nats: service is stopped") -> None:
        super().__init__(message)


class HandlerError(ServiceError):
    """Raise in a handler to answer with a service error of your choosing (code, description).

    The endpoint replies with `Nats-Service-Error-Code: code` and
    `Nats-Service-Error: description` headers and counts the request as an error.
    """

    def __init__(self, code: Union[int, str], description: str, data: bytes = b"",
                 headers: Optional[HeadersLike] = None) -> None:
        self.code = str(code)
        self.description = description
        self.data = data
        self.headers = headers
        super().__init__(f"{self.code}:{description}")


class InvalidResponseError(ServiceError, ValueError):
    """A monitoring response ($SRV.PING/INFO/STATS) is not the JSON document it should be."""
