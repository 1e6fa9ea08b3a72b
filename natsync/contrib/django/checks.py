"""The system check that reports bad NATS settings at startup (ids natsync.E001-E005)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from . import CHECK_IDS, settings_problems


@checks.register("natsync")
def check_nats_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """One Error per problem in settings.NATS / settings.NATS_URL."""
    return [checks.Error(problem.message, id=CHECK_IDS[problem.kind],
                         hint="see docs/django.md (natsync settings)")
            for problem in settings_problems()]
