"""Django integration: `INSTALLED_APPS += ["natsync.contrib.django"]`, then `client()`.

Settings: `NATS = {"servers": ..., **connect options}` and/or `NATS_URL`. A system check
reports bad settings at startup; `manage.py nats_listen` and `manage.py nats_worker` run
long-lived responders and JetStream workers. See docs/django.md.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...client import Client
from ..config import (
    OPTION_TYPE,
    OPTION_VALUE,
    SERVERS,
    UNKNOWN_OPTION,
    ConfigError,
    ConfigProblem,
    Servers,
    option_problems,
    server_problems,
)
from ..process import ProcessClient

#: Django check ids by problem kind.
CHECK_IDS = {"setting": "natsync.E001", SERVERS: "natsync.E002",
             UNKNOWN_OPTION: "natsync.E003", OPTION_TYPE: "natsync.E004",
             OPTION_VALUE: "natsync.E005"}


def _raw_settings() -> tuple[Any, Any]:
    from django.conf import settings

    return getattr(settings, "NATS", {}), getattr(settings, "NATS_URL", None)


def settings_problems() -> list[ConfigProblem]:
    """Everything wrong with `settings.NATS` and `settings.NATS_URL`."""
    nats, url = _raw_settings()
    if not isinstance(nats, Mapping):
        return [ConfigProblem("setting", "settings.NATS must be a dict of connect options "
                                         f"(with an optional 'servers'), not {type(nats).__name__}")]
    options = dict(nats)
    problems = server_problems(url, "settings.NATS_URL")
    if "servers" in options:
        problems += server_problems(options.pop("servers"), "settings.NATS['servers']")
    return problems + option_problems(options)


def nats_settings() -> tuple[Servers, Mapping[str, Any]]:
    """The servers and connect options from settings (NATS['servers'] wins over NATS_URL)."""
    problems = settings_problems()
    if problems:
        raise ConfigError("; ".join(p.message for p in problems))
    nats, url = _raw_settings()
    options = dict(nats)
    return options.pop("servers", url), options


#: This process's client holder; settings are read when the first client is made.
holder = ProcessClient(loader=nats_settings)


def client() -> Client:
    """This process's natsync client, connected on first use with the NATS settings."""
    return holder.client


__all__ = ["CHECK_IDS", "client", "holder", "nats_settings", "settings_problems"]
