"""Flask extension: `nats = Nats(app)` (or `nats.init_app(app)`), then `nats.client`.

Config: `app.config["NATS_URL"]` (else the NATS_URL environment variable) and
`app.config["NATS_OPTIONS"]` (connect options). Each process gets its own client, made on
first use; see docs/flask.md.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from flask import Flask, current_app

from ..client import Client
from .config import ConfigError
from .process import ProcessClient

EXTENSION = "natsync"


class Nats:
    """The natsync extension; `current_app.extensions["natsync"]` is the app's ProcessClient."""

    def __init__(self, app: Optional[Flask] = None, **holder_options: Any) -> None:
        self._app = app
        self._holder_options = holder_options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> ProcessClient:
        """Check the app's NATS config (ConfigError) and attach its client holder."""
        options = app.config.get("NATS_OPTIONS") or {}
        if not isinstance(options, Mapping):
            raise ConfigError(f"app.config['NATS_OPTIONS'] must be a dict of connect options, "
                              f"not {type(options).__name__}")
        holder = ProcessClient(app.config.get("NATS_URL"), **self._holder_options,
                               **dict(options))
        app.extensions[EXTENSION] = holder
        return holder

    @property
    def holder(self) -> ProcessClient:
        """The ProcessClient of the current app (or of the app given to the constructor)."""
        app = self._app if self._app is not None else current_app
        holder = app.extensions.get(EXTENSION)
        if not isinstance(holder, ProcessClient):
            raise ConfigError("natsync: call Nats(app) or nats.init_app(app) first")
        return holder

    @property
    def client(self) -> Client:
        """This process's client for the app, connected on first use."""
        return self.holder.client


__all__ = ["EXTENSION", "Nats"]
