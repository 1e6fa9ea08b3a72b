"""A minimal Flask app with natsync: one client per process, safe under gunicorn.

    NATS_URL=nats://127.0.0.1:4222 gunicorn -w 2 -b 127.0.0.1:8000 flask_nats_app:app

POST /orders/<id> stores an "orders.created" event in JetStream (stream ORDERS, made by
your deploy step) and asks the inventory service ("inventory.reserve") to reserve it.
The response says which process served it and which connection it used.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, current_app

from natsync.contrib.flask import Nats

app = Flask(__name__)
app.config["NATS_URL"] = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
app.config["NATS_OPTIONS"] = {"name": "flask-web", "max_reconnect_attempts": -1,
                              "reconnect_time_wait": 0.25}
nats = Nats(app)


@app.post("/orders/<order_id>")
def create_order(order_id: str) -> dict[str, Any]:
    nc = nats.client  # this process's client, connected on first use
    nc.jetstream().publish("orders.created", order_id.encode(), timeout=2)
    reply = nc.request("inventory.reserve", order_id.encode(), timeout=2)
    return {"order": order_id, "reserved": reply.data.decode(),
            "pid": os.getpid(), "client_pid": current_app.extensions["natsync"].owner_pid,
            "connection": f"{nc.server_info.get('server_id')}/{nc.client_id}"}
