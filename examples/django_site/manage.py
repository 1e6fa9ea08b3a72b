"""The minimal Django site's manage.py (runs nats_listen and nats_worker too)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nats_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
