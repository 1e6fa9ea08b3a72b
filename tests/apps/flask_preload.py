"""examples/flask_nats_app.py as a --preload app whose module also uses NATS in the master."""

from flask_nats_app import app, nats
from master import record_master_client

record_master_client(nats.client)

__all__ = ["app"]
