"""Minimal Django settings with natsync: the two NATS lines are the part to copy."""

import os

SECRET_KEY = "example-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "nats_site.urls"
INSTALLED_APPS = ["natsync.contrib.django"]
DATABASES: dict = {}

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
NATS = {"name": "django-web", "max_reconnect_attempts": -1, "reconnect_time_wait": 0.25}
