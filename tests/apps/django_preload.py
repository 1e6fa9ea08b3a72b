"""The example Django site as a --preload app whose module also uses NATS in the master."""

from master import record_master_client
from nats_site.wsgi import application

import natsync.contrib.django as nats

record_master_client(nats.client())

__all__ = ["application"]
