"""natsync.contrib.flask: the Nats extension against a real server."""

from __future__ import annotations

import pytest
from flask import Flask, current_app

import natsync
from natsync.contrib.config import ConfigError
from natsync.contrib.flask import Nats
from natsync.contrib.process import ProcessClient
from natsync.testing import NatsServer


def _app(**config: object) -> Flask:
    app = Flask("natsync-test")
    app.config.update(config)
    return app


def test_init_app_pattern_shares_one_client(nats_server: NatsServer) -> None:
    nats = Nats()
    app = _app(NATS_URL=nats_server.url, NATS_OPTIONS={"name": "flask-test"})
    holder = nats.init_app(app)

    @app.post("/hello/<name>")
    def hello(name: str) -> dict[str, object]:
        nats.client.publish("flask.hello", name.encode())
        return {"client_id": current_app.extensions["natsync"].client.client_id}

    with natsync.connect(nats_server.url) as watcher:
        sub = watcher.subscribe("flask.hello")
        watcher.flush()
        web = app.test_client()
        ids = {web.post(f"/hello/{n}").get_json()["client_id"] for n in ("ann", "bob", "cy")}
        assert [sub.next_msg(timeout=5).data for _ in range(3)] == [b"ann", b"bob", b"cy"]
    try:
        assert isinstance(app.extensions["natsync"], ProcessClient)
        assert app.extensions["natsync"] is holder and holder.connections_made == 1
        assert len(ids) == 1 and holder.client.client_id in ids
        assert holder.client.connected_url == nats_server.url
    finally:
        holder.close()


def test_app_given_to_the_constructor_needs_no_app_context(nats_server: NatsServer) -> None:
    app = _app(NATS_URL=nats_server.url)
    nats = Nats(app)
    try:
        assert nats.client.is_connected and nats.holder is app.extensions["natsync"]
    finally:
        nats.holder.close()


@pytest.mark.parametrize(("config", "named"), [
    ({"NATS_OPTIONS": "name=web"}, "app.config\\['NATS_OPTIONS'\\] must be a dict"),
    ({"NATS_URL": "http://127.0.0.1:4222"}, "scheme must be one of"),
    ({"NATS_OPTIONS": {"reconect_time_wait": 1}}, "unknown connect option 'reconect_time_wait'"),
])
def test_bad_config_is_refused_by_init_app(config: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Nats(_app(**config))


def test_client_before_init_app_is_a_clear_error() -> None:
    nats = Nats()
    with _app().app_context(), pytest.raises(ConfigError, match=r"call Nats\(app\)"):
        nats.client.publish("never", b"")
