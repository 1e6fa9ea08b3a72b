"""WSGI entry point: gunicorn -w 2 nats_site.wsgi"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nats_site.settings")
application = get_wsgi_application()
