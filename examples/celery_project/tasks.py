"""A Celery app whose broker and result backend are NATS JetStream (natsync[celery]).

The three lines that matter are the broker_url, broker_transport and result_backend
settings; the rest is an ordinary Celery project:

    celery -A tasks worker -P threads -c 4       # NATS_URL says where the server is
"""

from __future__ import annotations

import os
import time
from typing import List

from celery import Celery

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")

app = Celery("thumbnails")
app.conf.update(
    broker_url=NATS_URL,
    broker_transport="natsync.contrib.celery:Transport",
    result_backend=f"natsync.contrib.celery:KeyValueBackend+{NATS_URL}",
    broker_transport_options={"visibility_timeout": 30},  # seconds; kept alive while held
    result_expires=3600,  # the results bucket's TTL
    task_acks_late=True,  # a task whose worker dies is run again by another worker
    worker_prefetch_multiplier=4,
    worker_hijack_root_logger=False,
)


@app.task
def thumbnail(image_id: int) -> str:
    """Pretend to resize an image."""
    time.sleep(0.01)
    return f"thumb-{image_id}.png"


@app.task
def size_of(image_id: int) -> int:
    return 1000 + image_id


@app.task
def total(sizes: List[int]) -> int:
    """A chord's body: runs once, after every part of the header has finished."""
    return sum(sizes)
