"""Pure unit tests of natsync.servers: URL parsing, NATS_URL, and the server pool."""

from __future__ import annotations

import random
import time

import pytest

from natsync.errors import Error
from natsync.servers import (
    DEFAULT_URL,
    BadURLError,
    Server,
    ServerPool,
    parse_url,
    servers_from,
    wait_before,
)


@pytest.mark.parametrize("url, scheme, host, port", [
    ("nats://demo.nats.io:4222", "nats", "demo.nats.io", 4222),
    ("nats://demo.nats.io", "nats", "demo.nats.io", 4222),
    ("nats://127.0.0.1:5000", "nats", "127.0.0.1", 5000),
    ("tls://secure.example:4443", "tls", "secure.example", 4443),
    ("tls://secure.example", "tls", "secure.example", 4222),
    ("ws://h", "ws", "h", 80),
    ("ws://h:8080", "ws", "h", 8080),
    ("wss://h", "wss", "h", 443),
    ("wss://h:8443", "wss", "h", 8443),
    ("localhost", "nats", "localhost", 4222),
    ("localhost:4333", "nats", "localhost", 4333),
    ("10.1.2.3", "nats", "10.1.2.3", 4222),
    ("[::1]:4222", "nats", "::1", 4222),
    ("nats://[::1]:4223", "nats", "::1", 4223),
    ("nats://[::1]", "nats", "::1", 4222),
    ("tls://[fe80::1]:7000", "tls", "fe80::1", 7000),
    ("NATS://Host.Example:1", "nats", "host.example", 1),
    ("  nats://padded:4222  ", "nats", "padded", 4222),
    ("nats://h:65535", "nats", "h", 65535),
])
def test_parse_url(url: str, scheme: str, host: str, port: int) -> None:
    srv = parse_url(url)
    assert (srv.scheme, srv.host, srv.port) == (scheme, host, port)
    assert srv.user is None and srv.password is None and srv.token is None
    assert srv.discovered is False


def test_url_and_hostport() -> None:
    srv = parse_url("nats://h:4333")
    assert srv.url == "nats://h:4333"
    assert srv.hostport == "h:4333"
    assert parse_url("localhost").url == "nats://localhost:4222"
    assert parse_url("[::1]:5").url == "nats://[::1]:5"
    assert parse_url("ws://h/some/path").url == "ws://h:80/some/path"
    assert parse_url("ws://h/some/path").path == "/some/path"


def test_tls_and_websocket_flags() -> None:
    flags = {s: (parse_url(f"{s}://h").wants_tls, parse_url(f"{s}://h").is_websocket)
             for s in ("nats", "tls", "ws", "wss")}
    assert flags == {"nats": (False, False), "tls": (True, False),
                     "ws": (False, True), "wss": (True, True)}


def test_user_and_password() -> None:
    srv = parse_url("nats://alice:s3cret@h:4222")
    assert (srv.user, srv.password, srv.token) == ("alice", "s3cret", None)


def test_token() -> None:
    srv = parse_url("nats://t0k3n@h")
    assert (srv.user, srv.password, srv.token) == (None, None, "t0k3n")


def test_empty_password() -> None:
    srv = parse_url("nats://alice:@h")
    assert (srv.user, srv.password, srv.token) == ("alice", "", None)


def test_percent_encoded_credentials() -> None:
    srv = parse_url("nats://us%40er:p%3Aa%2Fss%40%20w@h:4222")
    assert (srv.user, srv.password) == ("us@er", "p:a/ss@ w")
    tok = parse_url("tls://to%2Fk%3Den@h")
    assert tok.token == "to/k=en"


def test_password_containing_at_sign() -> None:
    srv = parse_url("nats://u:p@ss@h:1")
    assert (srv.user, srv.password, srv.host, srv.port) == ("u", "p@ss", "h", 1)


def test_credentials_on_bare_host() -> None:
    srv = parse_url("bob:pw@h:4000")
    assert (srv.scheme, srv.user, srv.password, srv.host, srv.port) == (
        "nats", "bob", "pw", "h", 4000)


SECRETS = ["nats://alice:hunter2-secret@h:4222", "nats://tok-XYZZY-secret@h",
           "tls://u:p%40ss-secret@h", "ws://only-token-secret@h:80/p"]


@pytest.mark.parametrize("url", SECRETS)
def test_url_and_repr_never_show_credentials(url: str) -> None:
    srv = parse_url(url)
    for text in (srv.url, repr(srv), srv.hostport):
        assert "secret" not in text, text
        assert "@" not in text, text


def test_repr_shows_the_user_but_not_the_password() -> None:
    srv = parse_url("nats://alice:hunter2@h")
    assert "alice" in repr(srv) and "hunter2" not in repr(srv)


@pytest.mark.parametrize("url", [
    "http://h:4222", "https://h", "ftp://h", "tcp://h:4222", "unix:///tmp/x",
])
def test_bad_scheme(url: str) -> None:
    with pytest.raises(BadURLError, match="scheme must be one of") as exc:
        parse_url(url)
    assert repr(url) in str(exc.value)


@pytest.mark.parametrize("url", ["nats://", "nats://:4222", "nats://user@", "nats://u:p@:1",
                                 "tls://", "nats:///path"])
def test_no_host(url: str) -> None:
    with pytest.raises(BadURLError, match="no host"):
        parse_url(url)


@pytest.mark.parametrize("url", ["nats://h:99999", "nats://h:65536", "nats://h:-1",
                                 "nats://h:port", "h:4x", "nats://h:1.5", "::1", "nats://[::1"])
def test_bad_port_or_address(url: str) -> None:
    with pytest.raises(BadURLError, match="invalid server URL"):
        parse_url(url)


@pytest.mark.parametrize("url", ["", "   ", None, 4222, b"nats://h"])
def test_not_a_url(url: object) -> None:
    with pytest.raises(BadURLError, match="non-empty string"):
        parse_url(url)  # type: ignore[arg-type]


def test_bad_url_error_is_a_value_error() -> None:
    assert issubclass(BadURLError, ValueError) and issubclass(BadURLError, Error)


def test_discovered_flag() -> None:
    assert parse_url("nats://h", discovered=True).discovered is True


# --- servers_from -------------------------------------------------------------------------


def urls(servers: list[Server]) -> list[str]:
    return [s.url for s in servers]


def test_default_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    assert DEFAULT_URL == "nats://127.0.0.1:4222"
    for arg in (None, "", []):
        assert urls(servers_from(arg)) == [DEFAULT_URL]


def test_nats_url_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://env-a:1, tls://env-b:2 ,,")
    for arg in (None, "", []):
        assert urls(servers_from(arg)) == ["nats://env-a:1", "tls://env-b:2"]


def test_empty_nats_url_env_falls_back_to_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "")
    assert urls(servers_from(None)) == [DEFAULT_URL]


def test_explicit_servers_win_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://env:1")
    assert urls(servers_from("nats://arg:2")) == ["nats://arg:2"]
    assert urls(servers_from(["nats://arg:3"])) == ["nats://arg:3"]


def test_comma_separated_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    got = servers_from("nats://a:1,b:2, tls://c ,[::1]:4")
    assert urls(got) == ["nats://a:1", "nats://b:2", "tls://c:4222", "nats://[::1]:4"]


def test_list_and_tuple() -> None:
    assert urls(servers_from(["nats://a:1", "b"])) == ["nats://a:1", "nats://b:4222"]
    assert urls(servers_from(("tls://a", "ws://b"))) == ["tls://a:4222", "ws://b:80"]


def test_servers_from_keeps_credentials_per_server() -> None:
    a, b = servers_from("nats://u:p@a,nats://tok@b")
    assert (a.user, a.password, a.token) == ("u", "p", None)
    assert (b.user, b.password, b.token) == (None, None, "tok")


def test_servers_from_bad_url() -> None:
    with pytest.raises(BadURLError):
        servers_from("nats://ok:1,http://bad")
    with pytest.raises(BadURLError):
        servers_from(["nats://ok", "nats://h:99999"])


# --- ServerPool ---------------------------------------------------------------------------


def pool(*hosts: str, randomize: bool = False) -> ServerPool:
    return ServerPool([parse_url(f"nats://{h}") for h in hosts], randomize)


def test_pool_requires_servers() -> None:
    with pytest.raises(BadURLError):
        ServerPool([], False)


def test_pool_rotation() -> None:
    p = pool("a:1", "b:1", "c:1")
    assert len(p) == 3
    order = [p.next().hostport for _ in range(7)]  # type: ignore[union-attr]
    assert order == ["a:1", "b:1", "c:1", "a:1", "b:1", "c:1", "a:1"]
    assert [s.hostport for s in p] == ["b:1", "c:1", "a:1"]


def test_pool_iteration_is_a_snapshot() -> None:
    p = pool("a:1", "b:1")
    for s in p:
        p.remove(s)
    assert len(p) == 0


def test_pool_no_randomize_keeps_order() -> None:
    p = pool(*(f"h{i}:1" for i in range(20)))
    assert [s.hostport for s in p] == [f"h{i}:1" for i in range(20)]


def test_pool_randomize_shuffles() -> None:
    random.seed(12345)
    orders = {tuple(s.hostport for s in pool(*(f"h{i}:1" for i in range(8)), randomize=True))
              for _ in range(10)}
    assert len(orders) > 1
    assert all(sorted(o) == sorted(f"h{i}:1" for i in range(8)) for o in orders)


def test_pool_remove() -> None:
    p = pool("a:1", "b:1", "c:1")
    b = [s for s in p if s.host == "b"][0]
    p.remove(b)
    assert [s.hostport for s in p] == ["a:1", "c:1"]
    p.remove(b)  # removing twice is harmless
    assert len(p) == 2
    p.remove(parse_url("nats://zzz"))
    assert len(p) == 2
    p.remove(p.next())  # type: ignore[arg-type]
    p.remove(p.next())  # type: ignore[arg-type]
    assert len(p) == 0
    assert p.next() is None


def test_remove_matches_the_server_object_by_value() -> None:
    # Server is a dataclass: an equal server (same fields) is the same entry.
    p = pool("a:1", "b:1")
    p.remove(parse_url("nats://a:1"))
    assert [s.hostport for s in p] == ["b:1"]


def test_add_discovered() -> None:
    p = pool("a:4222")
    added = p.add_discovered(["b:4222", "a:4222", "c:5000", "b:4222"], "nats", False)
    assert added == ["b:4222", "c:5000"]
    assert [s.hostport for s in p] == ["a:4222", "b:4222", "c:5000"]
    found = [s for s in p if s.discovered]
    assert [s.hostport for s in found] == ["b:4222", "c:5000"]
    assert p.discovered == ["nats://b:4222", "nats://c:5000"]
    assert p.add_discovered(["b:4222", "c:5000"], "nats", False) == []
    assert len(p) == 3


def test_add_discovered_uses_the_scheme() -> None:
    p = pool("a:4222")
    p.add_discovered(["b:4443"], "tls", False)
    assert p.discovered == ["tls://b:4443"]
    assert [s for s in p if s.discovered][0].wants_tls


def test_add_discovered_skips_bad_entries() -> None:
    p = pool("a:1")
    assert p.add_discovered(["", "h:99999", "h:x", "good:2"], "nats", False) == ["good:2"]
    assert len(p) == 2


def test_add_discovered_ipv6() -> None:
    p = pool("a:1")
    assert p.add_discovered(["[::1]:4222", "[::1]:4222"], "nats", False) == ["[::1]:4222"]
    assert p.discovered == ["nats://[::1]:4222"]


def test_add_discovered_randomize() -> None:
    random.seed(7)
    hosts = [f"d{i}:1" for i in range(10)]
    orders = set()
    for _ in range(10):
        p = pool("a:1")
        added = p.add_discovered(hosts, "nats", True)
        assert sorted(added) == sorted(hosts)
        assert [s.hostport for s in p][0] == "a:1"  # configured servers keep their place
        orders.add(tuple(added))
    assert len(orders) > 1


def test_drop_discovered() -> None:
    p = pool("a:1")
    p.add_discovered(["b:1", "c:1", "d:1"], "nats", False)
    gone = p.drop_discovered(["c:1"], current=None)
    assert sorted(gone) == ["b:1", "d:1"]
    assert [s.hostport for s in p] == ["a:1", "c:1"]


def test_drop_discovered_never_drops_configured_servers() -> None:
    p = pool("a:1", "b:1")
    assert p.drop_discovered([], current=None) == []
    assert len(p) == 2


def test_drop_discovered_keeps_the_current_server() -> None:
    p = pool("a:1")
    p.add_discovered(["b:1", "c:1"], "nats", False)
    current = [s for s in p if s.hostport == "b:1"][0]
    assert p.drop_discovered([], current=current) == ["c:1"]
    assert [s.hostport for s in p] == ["a:1", "b:1"]


def test_drop_discovered_keeps_announced_ipv6() -> None:
    p = pool("a:1")
    p.add_discovered(["[::1]:4222"], "nats", False)
    assert p.drop_discovered(["[::1]:4222"], current=None) == []
    assert p.discovered == ["nats://[::1]:4222"]


# --- wait_before --------------------------------------------------------------------------


def test_wait_before_first_attempt_is_immediate() -> None:
    assert wait_before(parse_url("h"), 2.0, 0.5) == 0.0


def test_wait_before_after_an_attempt() -> None:
    srv = parse_url("h")
    srv.last_attempt = time.monotonic()
    delay = wait_before(srv, 2.0, 0.0)
    assert 1.5 < delay <= 2.0
    with_jitter = [wait_before(srv, 2.0, 1.0) for _ in range(50)]
    assert all(1.5 < d <= 3.0 for d in with_jitter)
    srv.last_attempt = time.monotonic() - 10
    assert wait_before(srv, 2.0, 1.0) == 0.0


def test_discovered_servers_inherit_url_credentials() -> None:
    p = ServerPool([parse_url("nats://alice:pw@a:1")], randomize=False)
    p.add_discovered(["b:1"], "nats", False)
    found = [s for s in p if s.hostport == "b:1"][0]
    assert (found.user, found.password, found.discovered) == ("alice", "pw", True)
    assert "pw" not in found.url and "pw" not in repr(found)
