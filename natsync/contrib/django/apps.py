"""The Django app config: registers the NATS settings check; connects nothing."""

from __future__ import annotations

from django.apps import AppConfig


class NatsyncConfig(AppConfig):
    """`natsync.contrib.django` in INSTALLED_APPS (no models; label `natsync`)."""

    name = "natsync.contrib.django"
    label = "natsync"
    verbose_name = "NATS (natsync)"

    def ready(self) -> None:
        # Connecting here would also connect the gunicorn master (--preload) and the
        # autoreloader's parent; the client is made on first use instead.
        from . import checks  # noqa: F401 - registers the system check
