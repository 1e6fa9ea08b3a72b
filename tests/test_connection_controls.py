"""Connection controls of production deployments, against real servers: credentials from
memory (and no secret in any error or log), the server pool at run time and the
reconnect_to_server hook, HTTP CONNECT proxies and websocket upgrade headers, NATS
contexts, and request_many's sentinel."""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from typing import Any, Iterator

import pytest

import natsync
from natsync.contexts import ContextError
from natsync.errors import BadArgumentError, Error, ProxyError
from natsync.servers import BadURLError
from natsync.testing import NatsServer, free_port

from . import jwt_helpers as jh
from .conftest import natsync_threads, wait_for
from .http_proxy import ConnectProxy

MARK = "SECRETMARK"  # put into every secret the tests hand over; must never come back
SEED_LIKE = "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY"  # seed-shaped


# --- credentials from memory --------------------------------------------------------------------


@pytest.mark.parametrize("form", ["str", "bytes"])
def test_creds_contents_from_memory(jwt_server: NatsServer, op: jh.Decentralized,
                                    form: str) -> None:
    text = jh.creds_text(op.user_jwt, op.user.seed)
    value: Any = text if form == "str" else text.encode()
    with natsync.connect(jwt_server.url, user_credentials=value) as nc:
        nc.flush()
        assert nc.is_connected


def _texts(exc: BaseException) -> str:
    """Everything an exception could show: str, repr, the chain, the formatted traceback."""
    parts = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        parts += [str(e), repr(e)]
        e = e.__cause__ or e.__context__
    parts.append("".join(traceback.format_exception(exc)))
    return "\n".join(parts)


BAD_CREDENTIALS: list[tuple[str, dict[str, Any]]] = [
    ("creds contents without a seed", {"user_credentials":
        f"-----BEGIN NATS USER JWT-----\neyJ{MARK}abc.def.ghi\n------END NATS USER JWT------\n"}),
    ("creds contents as bytes, garbage", {"user_credentials": f"{MARK}\n{SEED_LIKE}".encode()}),
    ("a JWT given as the creds path", {"user_credentials": f"eyJ{MARK}0eXAi.eyJqdGki.sig"}),
    ("a seed given as the creds path", {"user_credentials": SEED_LIKE}),
    ("a token given as the creds path", {"user_credentials": f"tok-{MARK}"}),
    ("creds of the wrong type", {"user_credentials": {"secret": MARK}}),
    ("a seed given as the seed file path", {"nkeys_seed": SEED_LIKE}),
    ("a bad seed string", {"nkeys_seed_str": f"S{MARK}"}),
    ("a password of the wrong type", {"user": "u", "password": MARK.encode()}),
    ("a token of the wrong type", {"token": [MARK]}),
    ("a user JWT callback returning garbage", {"user_jwt_cb": lambda: f"not a jwt {MARK}"}),
    ("a proxy URL with a password and a bad port", {"proxy": f"http://u:{MARK}@h:notaport"}),
    ("a proxy of another scheme", {"proxy": f"socks5://u:{MARK}@h:1080"}),
    ("websocket headers on two lines", {"ws_headers": {"Authorization": f"Bearer {MARK}\r\nX: y"}}),
]


@pytest.mark.parametrize("case,options", BAD_CREDENTIALS, ids=[c for c, _ in BAD_CREDENTIALS])
def test_no_secret_in_any_error_or_log(jwt_server: NatsServer, case: str, options: dict[str, Any],
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as info:
        natsync.connect(jwt_server.url, connect_timeout=1, **options)
    assert isinstance(info.value, Error), _texts(info.value)
    shown = _texts(info.value)
    assert MARK not in shown and SEED_LIKE not in shown, shown
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert MARK not in logged and SEED_LIKE not in logged, logged
    assert not natsync_threads()


def test_no_secret_in_url_errors() -> None:
    for url in (f"nats://user:{MARK}@host:notaport", f"nats://{MARK}@host:0",
                f"ftp://u:{MARK}@host:4222"):
        with pytest.raises(BadURLError) as info:
            natsync.connect(url)
        assert MARK not in _texts(info.value)


def test_no_secret_from_a_proxy_that_refuses_the_password() -> None:
    with NatsServer() as srv, ConnectProxy(auth=("u", "right")) as proxy:
        with pytest.raises(Exception) as info:
            natsync.connect(srv.url, proxy=proxy.url_with("u", MARK), connect_timeout=2,
                            allow_reconnect=False)
        assert "407" in _texts(info.value) and MARK not in _texts(info.value)


# --- the server pool --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three() -> Iterator[list[NatsServer]]:
    with NatsServer() as a, NatsServer() as b, NatsServer() as c:
        yield [a, b, c]


FAST = {"reconnect_time_wait": 0.05, "reconnect_jitter": 0.0, "dont_randomize": True}


def test_set_server_pool_moves_the_next_reconnect(three: list[NatsServer]) -> None:
    a, b, _ = three
    with natsync.connect(a.url, **FAST) as nc:
        nc.set_server_pool([b.url])
        assert nc.servers == [b.url] and nc.connected_url == a.url  # the connection stays
        nc.force_reconnect()
        wait_for(lambda: nc.connected_url == b.url, 5, "the move to the new pool")
        with pytest.raises(BadURLError):
            nc.set_server_pool([])
        with pytest.raises(BadURLError):
            nc.set_server_pool(["nats://host:notaport"])
        assert nc.servers == [b.url]


def test_reconnect_to_server_picks_the_next_server(three: list[NatsServer]) -> None:
    a, b, c = three
    asked: list[tuple[list[str], str]] = []

    def pick(servers: list[str], info: dict[str, Any]) -> tuple[str, float]:
        asked.append((servers, str(info.get("server_id", ""))))
        return c.url, 0.0

    with natsync.connect([a.url, b.url, c.url], reconnect_to_server=pick, **FAST) as nc:
        assert nc.connected_url == a.url
        nc.force_reconnect()
        wait_for(lambda: nc.connected_url == c.url, 5, "the chosen server")
        assert asked and sorted(asked[0][0]) == sorted([a.url, b.url, c.url])
        assert asked[0][1]  # the last INFO came along


def test_reconnect_to_server_outside_the_pool_is_reported(three: list[NatsServer]) -> None:
    a, b, _ = three
    errors: list[Exception] = []
    with natsync.connect([a.url, b.url], error_cb=errors.append, **FAST,
                         reconnect_to_server=lambda s, i: ("nats://10.0.0.1:4222", 0)) as nc:
        nc.force_reconnect()
        wait_for(lambda: nc.is_connected and nc.stats["reconnects"] == 1, 5, "a reconnect")
        wait_for(lambda: any(isinstance(e, BadArgumentError) for e in errors), 5,
                 "the refused choice reported")


# --- HTTP CONNECT proxies and websocket headers ---------------------------------------------------


def test_through_an_http_proxy_with_credentials() -> None:
    with NatsServer() as srv, ConnectProxy(auth=("user", "pw")) as proxy:
        with natsync.connect(srv.url, proxy=proxy.url_with("user", "pw")) as nc:
            sub = nc.subscribe("via.proxy")
            nc.publish("via.proxy", b"tunnelled")
            assert sub.next_msg(2).data == b"tunnelled"
        assert proxy.requests == [f"CONNECT 127.0.0.1:{srv.port} HTTP/1.1"]
        assert b"CONNECT {" in bytes(proxy.upward[0])  # NATS itself went through the tunnel


def test_a_proxy_that_refuses_the_target() -> None:
    with NatsServer() as srv, ConnectProxy(refuse=True) as proxy:
        with pytest.raises(Exception) as info:
            natsync.connect(srv.url, proxy=proxy.url, allow_reconnect=False)
        assert "403" in _texts(info.value)
        assert isinstance(info.value.__cause__ or info.value, (ProxyError, Error))


@pytest.fixture(scope="module")
def ws_url() -> Iterator[str]:
    port = free_port()
    with NatsServer(config={"websocket": {"port": port, "no_tls": True}}):
        yield f"ws://127.0.0.1:{port}"


def test_websocket_through_a_proxy_with_upgrade_headers(ws_url: str) -> None:
    calls: list[int] = []

    def headers() -> dict[str, str]:
        calls.append(1)
        return {"Authorization": f"Bearer token-{len(calls)}", "X-Tenant": "acme"}

    with ConnectProxy() as proxy:
        with natsync.connect(ws_url, proxy=proxy.url, ws_headers=headers, **FAST) as nc:
            nc.flush()
            nc.force_reconnect()
            wait_for(lambda: nc.is_connected and nc.stats["reconnects"] == 1, 5, "a reconnect")
            nc.flush()
        first, second = (bytes(t).split(b"\r\n\r\n", 1)[0] for t in proxy.upward[:2])
        assert b"Authorization: Bearer token-1" in first and b"X-Tenant: acme" in first
        assert b"Authorization: Bearer token-2" in second  # asked again at each connect


def test_websocket_headers_are_checked() -> None:
    for bad in ({"Bad Name": "x"}, {"Upgrade": "h2c"}, {"X": 5}):
        with pytest.raises(Error):
            natsync.connect("ws://127.0.0.1:1", ws_headers=bad)


# --- NATS contexts --------------------------------------------------------------------------------


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("NATS_CONTEXT", raising=False)
    (tmp_path / "nats" / "context").mkdir(parents=True)
    return tmp_path


def write_context(home: Path, name: str, settings: dict[str, Any]) -> None:
    (home / "nats" / "context" / f"{name}.json").write_text(json.dumps(settings))


@pytest.fixture(scope="module")
def auth_server() -> Iterator[NatsServer]:
    with NatsServer(config={"authorization": {"user": "ctx", "password": "s3cret"}}) as srv:
        yield srv


def test_connect_with_a_context(config_home: Path, auth_server: NatsServer,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    write_context(config_home, "prod", {"url": auth_server.url, "user": "ctx",
                                        "password": "s3cret", "inbox_prefix": "_PROD"})
    with natsync.connect(context="prod") as nc:
        assert nc.connected_url == auth_server.url and nc.options.inbox_prefix == "_PROD"
    monkeypatch.setenv("NATS_CONTEXT", "prod")
    with natsync.connect() as nc:  # the environment names it
        assert nc.is_connected
    with natsync.connect(context="prod", inbox_prefix="_MINE") as nc:  # options win
        assert nc.options.inbox_prefix == "_MINE"


def test_a_context_with_creds_from_the_environment(config_home: Path, jwt_server: NatsServer,
                                                   op: jh.Decentralized,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_CREDS", jh.creds_text(op.user_jwt, op.user.seed))
    write_context(config_home, "ops", {"url": jwt_server.url, "creds": "env://MY_CREDS"})
    with natsync.connect(context="ops") as nc:
        assert nc.is_connected


def test_context_errors(config_home: Path) -> None:
    with pytest.raises(ContextError, match="unknown context 'nope'"):
        natsync.connect(context="nope")
    (config_home / "nats" / "context" / "bad.json").write_text("{not json")
    with pytest.raises(ContextError, match="not valid JSON"):
        natsync.connect(context="bad")
    write_context(config_home, "noenv", {"creds": "env://NOT_SET_ANYWHERE_42"})
    with pytest.raises(ContextError, match="NOT_SET_ANYWHERE_42 is not set"):
        natsync.connect(context="noenv")


# --- request_many's sentinel ------------------------------------------------------------------------


def test_request_many_sentinel(three: list[NatsServer]) -> None:
    with natsync.connect(three[0].url) as nc:
        def answer(msg: natsync.Msg) -> None:
            for part in (b"a", b"b", b"c", b"END", b"late"):
                msg.respond(part)

        nc.subscribe("parts", cb=answer)
        nc.flush()
        got = [m.data for m in nc.request_many("parts", timeout=2,
                                               sentinel=lambda m: m.data == b"END")]
        assert got == [b"a", b"b", b"c"]  # the sentinel itself is not yielded
        with pytest.raises(BadArgumentError):
            nc.request_many("parts", sentinel="END")  # type: ignore[arg-type]
