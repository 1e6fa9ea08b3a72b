"""Handlers for `manage.py nats_listen` and `manage.py nats_worker`."""

import natsync.contrib.django as nats
from natsync import Msg


def reserve(msg: Msg) -> bytes:
    """nats_listen inventory.reserve nats_site.handlers.reserve: the return value is the reply."""
    return b"reserved " + msg.data


def ship(msg: Msg) -> None:
    """nats_worker ORDERS shipping nats_site.handlers.ship: acked after it returns."""
    nats.client().publish("orders.shipped", msg.data)
