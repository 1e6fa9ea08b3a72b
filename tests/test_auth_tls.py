"""Authentication and TLS against real nats-server processes on 127.0.0.1.

Tokens, user/password, NKEYs, JWT/.creds (operator mode with a memory resolver) and TLS
with trustme certificates: server auth, tls:// URLs, mutual TLS, TLS handshake first,
tls_hostname, and the errors for every mismatch. Also: secrets never show in reprs or logs.
"""

from __future__ import annotations

import base64
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import nkeys
import pytest
import trustme

import natsync
import natsync.auth
import natsync.engine.handshake
from natsync.errors import (
    AuthenticationError,
    AuthorizationError,
    Error,
    NoServersError,
    SecureConnFailedError,
    SecureConnRequiredError,
    SecureConnWantedError,
)
from natsync.options import Options
from natsync.testing import NatsServer

from . import jwt_helpers as jh
from .conftest import natsync_threads

TOKEN = "s3cr3t-t0ken"
USER = "alice"
PASSWORD = "p@ss:w/rd hunter2"  # needs quoting in a URL


def roundtrip(nc: natsync.Client, subject: str = "auth.check") -> None:
    """The connection really works: a message goes out and comes back."""
    sub = nc.subscribe(subject)
    nc.publish(subject, b"ok")
    assert sub.next_msg(timeout=2).data == b"ok"


def refused(exc_type: type[BaseException], url: str, **options: Any) -> BaseException:
    """connect() fails with exactly `exc_type` and leaves no natsync thread behind."""
    with pytest.raises(Error) as info:
        natsync.connect(url, connect_timeout=2, allow_reconnect=False, **options)
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    assert not natsync_threads()
    return info.value


def tls_url(srv: NatsServer) -> str:
    return srv.url.replace("nats://", "tls://", 1)


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def token_server() -> Iterator[NatsServer]:
    with NatsServer(config={"authorization": {"token": TOKEN}}) as srv:
        yield srv


@pytest.fixture(scope="module")
def userpass_server() -> Iterator[NatsServer]:
    with NatsServer(config={"authorization": {"user": USER, "password": PASSWORD}}) as srv:
        yield srv


@pytest.fixture(scope="module")
def plain_server() -> Iterator[NatsServer]:
    with NatsServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def nkey_user() -> jh.Keys:
    return jh.new_keys("user")


@pytest.fixture(scope="module")
def nkey_server(nkey_user: jh.Keys) -> Iterator[NatsServer]:
    config = {"authorization": {"users": [{"nkey": nkey_user.public}]}}
    with NatsServer(config=config) as srv:
        yield srv


# --------------------------------------------------------------------------- token


def test_token_via_option(token_server: NatsServer) -> None:
    with natsync.connect(token_server.url, token=TOKEN) as nc:
        assert nc.server_info.get("auth_required") is True
        roundtrip(nc)


def test_token_via_url(token_server: NatsServer) -> None:
    url = f"nats://{TOKEN}@127.0.0.1:{token_server.port}"
    with natsync.connect(url) as nc:
        roundtrip(nc)
        assert nc.connected_url == token_server.url  # no token in it


def test_url_token_wins_over_option(token_server: NatsServer) -> None:
    url = f"nats://{TOKEN}@127.0.0.1:{token_server.port}"
    with natsync.connect(url, token="wrong") as nc:
        roundtrip(nc)


@pytest.mark.parametrize("how", ["option", "url", "missing"])
def test_bad_token_is_authorization_error(token_server: NatsServer, how: str) -> None:
    if how == "option":
        err = refused(AuthorizationError, token_server.url, token="wrong")
    elif how == "url":
        err = refused(AuthorizationError, f"nats://wrong@127.0.0.1:{token_server.port}")
    else:
        err = refused(AuthorizationError, token_server.url)
    assert "Authorization Violation" in str(err)


# --------------------------------------------------------------------------- user/password


def test_user_password_via_options(userpass_server: NatsServer) -> None:
    with natsync.connect(userpass_server.url, user=USER, password=PASSWORD) as nc:
        roundtrip(nc)


def test_user_password_via_url(userpass_server: NatsServer) -> None:
    url = f"nats://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{userpass_server.port}"
    with natsync.connect(url) as nc:
        roundtrip(nc)
        assert nc.connected_url == userpass_server.url


def test_url_user_wins_over_options(userpass_server: NatsServer) -> None:
    url = f"nats://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{userpass_server.port}"
    with natsync.connect(url, user="mallory", password="nope") as nc:
        roundtrip(nc)


@pytest.mark.parametrize("how", ["bad-password", "bad-user", "url", "missing"])
def test_bad_user_password_is_authorization_error(userpass_server: NatsServer, how: str) -> None:
    url = userpass_server.url
    if how == "bad-password":
        refused(AuthorizationError, url, user=USER, password="wrong")
    elif how == "bad-user":
        refused(AuthorizationError, url, user="bob", password=PASSWORD)
    elif how == "url":
        refused(AuthorizationError, f"nats://{USER}:wrong@127.0.0.1:{userpass_server.port}")
    else:
        refused(AuthorizationError, url)


def test_auth_error_beats_unreachable_server(userpass_server: NatsServer) -> None:
    """With a dead server in the list, the credential problem is still what is raised."""
    from natsync.testing import free_port

    servers = [f"nats://127.0.0.1:{free_port()}", userpass_server.url]
    with pytest.raises(AuthorizationError):
        natsync.connect(servers, user=USER, password="wrong", dont_randomize=True,
                        connect_timeout=1)
    assert not natsync_threads()


# --------------------------------------------------------------------------- NKEYs


def test_nkey_seed_file(nkey_server: NatsServer, nkey_user: jh.Keys, tmp_path: Path) -> None:
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(nkey_user.seed + b"\n")
    with natsync.connect(nkey_server.url, nkeys_seed=str(seed_file)) as nc:
        roundtrip(nc)


def test_nkey_seed_file_with_other_text(nkey_server: NatsServer, nkey_user: jh.Keys,
                                        tmp_path: Path) -> None:
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(b"# my user key\r\n\r\n  " + nkey_user.seed + b"  \r\n# end\r\n")
    with natsync.connect(nkey_server.url, nkeys_seed=str(seed_file)) as nc:
        roundtrip(nc)


def test_nkey_seed_str(nkey_server: NatsServer, nkey_user: jh.Keys) -> None:
    with natsync.connect(nkey_server.url, nkeys_seed_str=nkey_user.seed.decode()) as nc:
        roundtrip(nc)


def test_nkey_signature_is_checked(nkey_server: NatsServer) -> None:
    """A well-formed seed of a user the server does not know is refused."""
    stranger = jh.new_keys("user")
    refused(AuthorizationError, nkey_server.url, nkeys_seed_str=stranger.seed.decode())


def test_nkey_missing_is_authorization_error(nkey_server: NatsServer) -> None:
    refused(AuthorizationError, nkey_server.url)


def test_nkey_seed_file_missing(nkey_server: NatsServer, tmp_path: Path) -> None:
    path = str(tmp_path / "nope.nk")
    err = refused(AuthenticationError, nkey_server.url, nkeys_seed=path)
    assert "nope.nk" in str(err)


@pytest.mark.parametrize("damage", ["typo", "truncated", "not-base32", "public-key"])
def test_nkey_invalid_seed_is_not_echoed(nkey_server: NatsServer, nkey_user: jh.Keys,
                                         damage: str) -> None:
    """A damaged seed is caught by its checksum (nkeys itself would sign with a wrong key)."""
    good = nkey_user.seed.decode()
    flip = "B" if good[30] != "B" else "C"
    bogus = {
        "typo": good[:30] + flip + good[31:],
        "truncated": good[:-3],
        "not-base32": good[:30] + "1" + good[31:],
        "public-key": nkey_user.public,
    }[damage]
    err = refused(AuthenticationError, nkey_server.url, nkeys_seed_str=bogus)
    assert "invalid NKEY seed" in str(err)
    assert bogus not in str(err) and bogus[5:20] not in repr(err)


def test_nkey_seed_against_server_without_nonce(plain_server: NatsServer,
                                                nkey_user: jh.Keys) -> None:
    """A server that sends no nonce does not do NKEY auth: say so instead of skipping it."""
    err = refused(AuthenticationError, plain_server.url, nkeys_seed_str=nkey_user.seed.decode())
    assert "nonce" in str(err)


@pytest.fixture
def secret_buffers(monkeypatch: pytest.MonkeyPatch) -> list[bytearray]:
    """Every bytearray natsync.auth reads a credentials file into or keeps a seed in."""
    seen: list[bytearray] = []
    real_read, real_seed, real_creds = (natsync.auth._read_file, natsync.auth._seed_from_text,
                                        natsync.auth.creds_parts)

    def read_file(path: str, what: str) -> bytearray:
        seen.append(real_read(path, what))
        return seen[-1]

    def seed_from_text(raw: bytearray) -> bytearray:
        seen.append(real_seed(raw))
        return seen[-1]

    def creds_parts(raw: bytearray) -> tuple[bytes, bytearray]:
        jwt, seed = real_creds(raw)
        seen.append(seed)
        return jwt, seed

    monkeypatch.setattr(natsync.auth, "_read_file", read_file)
    monkeypatch.setattr(natsync.auth, "_seed_from_text", seed_from_text)
    monkeypatch.setattr(natsync.auth, "creds_parts", creds_parts)
    return seen


def assert_wiped(buffers: list[bytearray], count: int) -> None:
    assert len(buffers) == count
    for buf in buffers:
        assert len(buf) > 0 and not any(buf), "a buffer that held a seed was not wiped"


def test_seed_file_buffers_are_wiped(nkey_server: NatsServer, nkey_user: jh.Keys,
                                     tmp_path: Path, secret_buffers: list[bytearray]) -> None:
    """The bytearrays holding the seed file and the seed are zeroed once the nonce is signed."""
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(b"# key\n" + nkey_user.seed + b"\n")
    with natsync.connect(nkey_server.url, nkeys_seed=str(seed_file)) as nc:
        roundtrip(nc)
    assert_wiped(secret_buffers, 2)  # the file, the seed


@pytest.mark.parametrize("form", ["creds", "tuple-of-creds"])
def test_creds_buffers_are_wiped(jwt_server: NatsServer, op: jh.Decentralized, tmp_path: Path,
                                 secret_buffers: list[bytearray], form: str) -> None:
    creds = jh.write_creds(tmp_path / "user.creds", op.user_jwt, op.user.seed)
    value: Any = creds if form == "creds" else (creds, creds)
    with natsync.connect(jwt_server.url, user_credentials=value) as nc:
        roundtrip(nc)
    assert_wiped(secret_buffers, 2 if form == "creds" else 3)


def test_seed_wiped_when_jwt_callback_fails(jwt_server: NatsServer, op: jh.Decentralized,
                                           tmp_path: Path,
                                           secret_buffers: list[bytearray]) -> None:
    creds = jh.write_creds(tmp_path / "user.creds", op.user_jwt, op.user.seed)

    def broken() -> str:
        raise RuntimeError("secret store unavailable")

    with pytest.raises(RuntimeError, match="secret store unavailable"):
        natsync.connect(jwt_server.url, user_credentials=creds, user_jwt_cb=broken)
    assert_wiped(secret_buffers, 2)
    assert not natsync_threads()


def test_seed_wiped_when_signature_callback_used(jwt_server: NatsServer, op: jh.Decentralized,
                                                tmp_path: Path,
                                                secret_buffers: list[bytearray]) -> None:
    """signature_cb signs instead of the seed from the .creds file, which is wiped unused."""
    creds = jh.write_creds(tmp_path / "user.creds", op.user_jwt, op.user.seed)
    calls: list[str] = []

    def sign(nonce: str) -> bytes:
        calls.append(nonce)
        return base64.urlsafe_b64encode(op.user.sign(nonce.encode())).rstrip(b"=")

    with natsync.connect(jwt_server.url, user_credentials=creds, signature_cb=sign) as nc:
        roundtrip(nc)
    assert calls
    assert_wiped(secret_buffers, 2)


def test_credentials_files_are_read_at_each_handshake(jwt_server: NatsServer,
                                                      op: jh.Decentralized,
                                                      tmp_path: Path) -> None:
    """A .creds file replaced on disk is used by the next connection."""
    path = tmp_path / "user.creds"
    rogue = jh.user_jwt(jh.new_keys("account"), op.user)
    jh.write_creds(path, rogue, op.user.seed)
    refused(AuthorizationError, jwt_server.url, user_credentials=str(path))
    jh.write_creds(path, op.user_jwt, op.user.seed)
    with natsync.connect(jwt_server.url, user_credentials=str(path)) as nc:
        roundtrip(nc)


# --------------------------------------------------------------------------- JWT / .creds


def test_creds_file(jwt_server: NatsServer, op: jh.Decentralized, tmp_path: Path) -> None:
    creds = jh.write_creds(tmp_path / "user.creds", op.user_jwt, op.user.seed)
    with natsync.connect(jwt_server.url, user_credentials=creds) as nc:
        roundtrip(nc)


def test_creds_file_with_crlf(jwt_server: NatsServer, op: jh.Decentralized,
                              tmp_path: Path) -> None:
    path = tmp_path / "user.creds"
    path.write_bytes(jh.creds_text(op.user_jwt, op.user.seed).replace("\n", "\r\n").encode())
    with natsync.connect(jwt_server.url, user_credentials=str(path)) as nc:
        roundtrip(nc)


def test_creds_jwt_and_seed_files(jwt_server: NatsServer, op: jh.Decentralized,
                                  tmp_path: Path) -> None:
    jwt_file, seed_file = tmp_path / "user.jwt", tmp_path / "user.nk"
    jwt_file.write_text(op.user_jwt + "\n")
    seed_file.write_bytes(op.user.seed + b"\n")
    with natsync.connect(jwt_server.url, user_credentials=(str(jwt_file), str(seed_file))) as nc:
        roundtrip(nc)


def test_creds_tuple_of_decorated_files(jwt_server: NatsServer, op: jh.Decentralized,
                                        tmp_path: Path) -> None:
    """Both halves of the tuple may be full .creds files (as nats.go accepts)."""
    creds = jh.write_creds(tmp_path / "user.creds", op.user_jwt, op.user.seed)
    with natsync.connect(jwt_server.url, user_credentials=(creds, creds)) as nc:
        roundtrip(nc)


def test_signature_and_jwt_callbacks(jwt_server: NatsServer, op: jh.Decentralized) -> None:
    nonces: list[str] = []

    def sign(nonce: str) -> bytes:
        nonces.append(nonce)
        return base64.urlsafe_b64encode(op.user.sign(nonce.encode())).rstrip(b"=")

    with natsync.connect(jwt_server.url, user_jwt_cb=lambda: op.user_jwt,
                         signature_cb=sign) as nc:
        roundtrip(nc)
    assert len(nonces) == 1 and nonces[0]


def test_jwt_callback_may_return_bytes_and_signature_str(jwt_server: NatsServer,
                                                         op: jh.Decentralized) -> None:
    def sign(nonce: str) -> str:
        return base64.urlsafe_b64encode(op.user.sign(nonce.encode())).decode().rstrip("=")

    with natsync.connect(jwt_server.url, user_jwt_cb=lambda: op.user_jwt.encode(),
                         signature_cb=sign) as nc:
        roundtrip(nc)


def test_jwt_of_another_account_is_refused(jwt_server: NatsServer, op: jh.Decentralized,
                                           tmp_path: Path) -> None:
    rogue_account = jh.new_keys("account")
    jwt = jh.user_jwt(rogue_account, op.user)
    creds = jh.write_creds(tmp_path / "rogue.creds", jwt, op.user.seed)
    refused(AuthorizationError, jwt_server.url, user_credentials=creds)


def test_jwt_with_seed_of_another_user_is_refused(jwt_server: NatsServer, op: jh.Decentralized,
                                                  tmp_path: Path) -> None:
    other = jh.new_keys("user")
    creds = jh.write_creds(tmp_path / "mixed.creds", op.user_jwt, other.seed)
    refused(AuthorizationError, jwt_server.url, user_credentials=creds)


def test_expired_user_jwt_is_refused(jwt_server: NatsServer, op: jh.Decentralized,
                                     tmp_path: Path) -> None:
    jwt = jh.user_jwt(op.account, op.user, expires=int(time.time()) - 60)
    creds = jh.write_creds(tmp_path / "old.creds", jwt, op.user.seed)
    refused(AuthorizationError, jwt_server.url, user_credentials=creds)


def test_jwt_server_without_credentials(jwt_server: NatsServer) -> None:
    refused(AuthorizationError, jwt_server.url)


def test_malformed_creds_file(jwt_server: NatsServer, op: jh.Decentralized,
                              tmp_path: Path) -> None:
    path = tmp_path / "broken.creds"
    path.write_text(f"-----BEGIN NATS USER JWT-----\n{op.user_jwt}\n------END NATS USER JWT------\n")
    err = refused(AuthenticationError, jwt_server.url, user_credentials=str(path))
    assert "seed block" in str(err)


def test_creds_buffer_is_wiped(op: jh.Decentralized, tmp_path: Path) -> None:
    creds = jh.write_creds(tmp_path / "user.creds", op.user_jwt, op.user.seed)
    raw = natsync.auth._read_file(creds, "credentials file")
    jwt, seed = natsync.auth.creds_parts(raw)
    assert jwt == op.user_jwt.encode() and bytes(seed) == op.user.seed
    assert not any(raw)


# --------------------------------------------------------------------------- TLS fixtures


@dataclass
class PKI:
    ca: trustme.CA
    cert: str        # server cert chain for 127.0.0.1 and localhost
    key: str
    lh_cert: str     # server cert chain for localhost only
    lh_key: str
    client: str      # client key + cert chain (mutual TLS)
    ca_file: str

    def context(self, client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        if client_cert:
            ctx.load_cert_chain(self.client)
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    localhost = ca.issue_cert("localhost")
    client = ca.issue_cert("client@natsync.test")
    files = {
        "cert": (server.cert_chain_pems, d / "server.pem"),
        "lh_cert": (localhost.cert_chain_pems, d / "localhost.pem"),
    }
    for pems, path in files.values():
        path.write_bytes(b"".join(p.bytes() for p in pems))
    server.private_key_pem.write_to_path(str(d / "server-key.pem"))
    localhost.private_key_pem.write_to_path(str(d / "localhost-key.pem"))
    client.private_key_and_cert_chain_pem.write_to_path(str(d / "client.pem"))
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    return PKI(ca=ca, cert=str(d / "server.pem"), key=str(d / "server-key.pem"),
               lh_cert=str(d / "localhost.pem"), lh_key=str(d / "localhost-key.pem"),
               client=str(d / "client.pem"), ca_file=str(d / "ca.pem"))


@pytest.fixture(scope="module")
def tls_server(pki: PKI) -> Iterator[NatsServer]:
    with NatsServer(config={"tls": {"cert_file": pki.cert, "key_file": pki.key}}) as srv:
        yield srv


@pytest.fixture(scope="module")
def tls_auth_server(pki: PKI) -> Iterator[NatsServer]:
    config = {"tls": {"cert_file": pki.cert, "key_file": pki.key},
              "authorization": {"user": USER, "password": PASSWORD}}
    with NatsServer(config=config) as srv:
        yield srv


@pytest.fixture(scope="module")
def mtls_server(pki: PKI) -> Iterator[NatsServer]:
    config = {"tls": {"cert_file": pki.cert, "key_file": pki.key, "ca_file": pki.ca_file,
                      "verify": True}}
    with NatsServer(config=config) as srv:
        yield srv


@pytest.fixture(scope="module")
def localhost_cert_server(pki: PKI) -> Iterator[NatsServer]:
    with NatsServer(config={"tls": {"cert_file": pki.lh_cert, "key_file": pki.lh_key}}) as srv:
        yield srv


@pytest.fixture(scope="module")
def optional_tls_server(pki: PKI) -> Iterator[NatsServer]:
    config = {"tls": {"cert_file": pki.cert, "key_file": pki.key}, "allow_non_tls": True}
    with NatsServer(config=config) as srv:
        yield srv


def _start_silent(srv: NatsServer, timeout: float = 10.0) -> None:
    """Start a server that sends no INFO until the client speaks TLS.

    NatsServer.start() waits for the INFO greeting, which a handshake-first server never
    sends in plain text; wait for its "ready" log line instead.
    """
    srv.start(wait=False)
    deadline = time.monotonic() + timeout
    while "Server is ready" not in srv.log_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"nats-server did not start:\n{srv.log_text()}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def handshake_first_server(pki: PKI) -> Iterator[NatsServer]:
    config = {"tls": {"cert_file": pki.cert, "key_file": pki.key, "handshake_first": True}}
    srv = NatsServer(config=config)
    try:
        _start_silent(srv)
        yield srv
    finally:
        srv.close()


# --------------------------------------------------------------------------- TLS


def test_tls_with_context(tls_server: NatsServer, pki: PKI) -> None:
    with natsync.connect(tls_server.url, tls=pki.context()) as nc:
        assert nc.server_info.get("tls_required") is True
        assert isinstance(nc._life.session.sock, ssl.SSLSocket)
        roundtrip(nc)


def test_tls_url_with_context(tls_server: NatsServer, pki: PKI) -> None:
    with natsync.connect(tls_url(tls_server), tls=pki.context()) as nc:
        assert nc.connected_url == tls_url(tls_server)
        assert isinstance(nc._life.session.sock, ssl.SSLSocket)
        roundtrip(nc)


def test_tls_true_uses_default_context(tls_server: NatsServer, pki: PKI,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """tls=True verifies with default_tls_context() (here made to trust the test CA)."""
    calls: list[int] = []

    def default() -> ssl.SSLContext:
        calls.append(1)
        return pki.context()

    monkeypatch.setattr(natsync.engine.handshake, "default_tls_context", default)
    with natsync.connect(tls_server.url, tls=True) as nc:
        roundtrip(nc)
    assert calls


def test_tls_upgrade_on_optional_tls_server(optional_tls_server: NatsServer, pki: PKI) -> None:
    """A server with allow_non_tls offers TLS: tls= upgrades, no tls stays plain text."""
    with natsync.connect(optional_tls_server.url, tls=pki.context()) as nc:
        assert isinstance(nc._life.session.sock, ssl.SSLSocket)
        roundtrip(nc)
    with natsync.connect(optional_tls_server.url) as nc:
        assert not isinstance(nc._life.session.sock, ssl.SSLSocket)
        roundtrip(nc)


def test_tls_with_user_password(tls_auth_server: NatsServer, pki: PKI) -> None:
    url = f"tls://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{tls_auth_server.port}"
    with natsync.connect(url, tls=pki.context()) as nc:
        roundtrip(nc)
    refused(AuthorizationError, tls_auth_server.url, tls=pki.context(), user=USER,
            password="wrong")


def test_mutual_tls(mtls_server: NatsServer, pki: PKI) -> None:
    with natsync.connect(mtls_server.url, tls=pki.context(client_cert=True)) as nc:
        roundtrip(nc)


def test_mutual_tls_without_client_cert(mtls_server: NatsServer, pki: PKI) -> None:
    err = refused(SecureConnFailedError, mtls_server.url, tls=pki.context())
    assert "client certificate" in str(err)
    assert "load_cert_chain" in str(err)


def test_mutual_tls_with_untrusted_client_cert(mtls_server: NatsServer, pki: PKI,
                                               tmp_path: Path) -> None:
    stranger = trustme.CA().issue_cert("mallory@natsync.test")
    path = tmp_path / "mallory.pem"
    stranger.private_key_and_cert_chain_pem.write_to_path(str(path))
    ctx = pki.context()
    ctx.load_cert_chain(str(path))
    err = refused(SecureConnFailedError, mtls_server.url, tls=ctx)
    assert "certificate" in str(err)


def test_tls_handshake_first_with_fallback(pki: PKI) -> None:
    """handshake_first: "300ms" serves both kinds of client."""
    config = {"tls": {"cert_file": pki.cert, "key_file": pki.key, "handshake_first": "300ms"}}
    with NatsServer(config=config) as srv:
        with natsync.connect(srv.url, tls=pki.context(), tls_handshake_first=True) as nc:
            roundtrip(nc)
        with natsync.connect(srv.url, tls=pki.context()) as nc:
            assert isinstance(nc._life.session.sock, ssl.SSLSocket)
            roundtrip(nc)


def test_tls_handshake_first(handshake_first_server: NatsServer, pki: PKI) -> None:
    with natsync.connect(handshake_first_server.url, tls=pki.context(),
                         tls_handshake_first=True) as nc:
        assert isinstance(nc._life.session.sock, ssl.SSLSocket)
        roundtrip(nc)


def test_handshake_first_server_needs_the_option(handshake_first_server: NatsServer,
                                                 pki: PKI) -> None:
    with pytest.raises(NoServersError) as info:
        natsync.connect(handshake_first_server.url, tls=pki.context(), connect_timeout=0.5)
    assert "tls_handshake_first=True" in str(info.value)
    assert not natsync_threads()


def test_handshake_first_against_ordinary_tls_server(tls_server: NatsServer, pki: PKI) -> None:
    err = refused(SecureConnFailedError, tls_server.url, tls=pki.context(),
                  tls_handshake_first=True)
    assert "handshake_first" in str(err)


def test_handshake_first_with_tls_false_is_a_config_error(tls_server: NatsServer) -> None:
    err = refused(Error, tls_server.url, tls=False, tls_handshake_first=True)
    assert "tls_handshake_first" in str(err)


def test_wrong_ca(tls_server: NatsServer) -> None:
    ctx = ssl.create_default_context()
    trustme.CA().configure_trust(ctx)
    err = refused(SecureConnFailedError, tls_server.url, tls=ctx)
    text = str(err)
    assert "certificate verify failed" in text
    assert "not signed by a CA that the client's tls context trusts" in text
    assert tls_server.url in text


def test_server_requires_tls_but_client_says_no(tls_server: NatsServer) -> None:
    err = refused(SecureConnRequiredError, tls_server.url, tls=False)
    assert "requires TLS" in str(err)


@pytest.mark.parametrize("how", ["tls-url", "tls-context", "tls-true"])
def test_client_wants_tls_but_server_has_none(plain_server: NatsServer, pki: PKI,
                                              how: str) -> None:
    if how == "tls-url":
        err = refused(SecureConnWantedError, tls_url(plain_server))
    elif how == "tls-context":
        err = refused(SecureConnWantedError, plain_server.url, tls=pki.context())
    else:
        err = refused(SecureConnWantedError, plain_server.url, tls=True)
    assert "does not offer TLS" in str(err)


def test_auto_upgrade_uses_certifi_and_says_so(tls_server: NatsServer) -> None:
    """No tls option + a TLS-required server: upgrade with certifi, which lacks the test CA."""
    err = refused(SecureConnFailedError, tls_server.url)
    text = str(err)
    assert "certificate verify failed" in text
    assert "default TLS context" in text and "certifi" in text
    assert "ssl.create_default_context(cafile=" in text


def test_tls_hostname_override(localhost_cert_server: NatsServer, pki: PKI) -> None:
    err = refused(SecureConnFailedError, localhost_cert_server.url, tls=pki.context())
    assert "tls_hostname" in str(err) and "127.0.0.1" in str(err)
    with natsync.connect(localhost_cert_server.url, tls=pki.context(),
                         tls_hostname="localhost") as nc:
        roundtrip(nc)


def test_tls_hostname_that_the_cert_lacks(tls_server: NatsServer, pki: PKI) -> None:
    err = refused(SecureConnFailedError, tls_server.url, tls=pki.context(),
                  tls_hostname="nats.example.com")
    assert "nats.example.com" in str(err)


def test_jwt_over_mutual_tls(pki: PKI, op: jh.Decentralized, tmp_path: Path) -> None:
    config: dict[str, Any] = dict(op.server_config())
    config["tls"] = {"cert_file": pki.cert, "key_file": pki.key, "ca_file": pki.ca_file,
                     "verify": True}
    creds = jh.write_creds(tmp_path / "user.creds", op.user_jwt, op.user.seed)
    with NatsServer(config=config) as srv:
        with natsync.connect(tls_url(srv), tls=pki.context(client_cert=True),
                             user_credentials=creds) as nc:
            roundtrip(nc)


# --------------------------------------------------------------------------- secrets


def test_options_repr_hides_secrets(nkey_user: jh.Keys) -> None:
    seed = nkey_user.seed.decode()
    opts = Options(user=USER, password=PASSWORD, token=TOKEN, nkeys_seed_str=seed,
                   nkeys_seed="/secret/path/user.nk", user_credentials="/secret/path/u.creds")
    text = repr(opts)
    for secret in (PASSWORD, TOKEN, seed, seed[:12], "/secret/path"):
        assert secret not in text
    assert "password='***'" in text and "nkeys_seed_str='***'" in text
    assert USER in text  # a user name is not a secret
    tuple_opts = Options(user_credentials=("/secret/path/u.jwt", "/secret/path/u.nk"))
    assert "/secret/path" not in repr(tuple_opts)
    assert "password=None" in repr(Options())


def test_client_repr_and_errors_have_no_secrets(userpass_server: NatsServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="natsync")
    quoted = quote(PASSWORD, safe="")
    url = f"nats://{USER}:{quoted}@127.0.0.1:{userpass_server.port}"
    with natsync.connect(url, token=TOKEN) as nc:
        for text in (repr(nc), str(nc.connected_url), repr(nc._pool._servers),
                     repr(nc.options)):
            assert PASSWORD not in text and quoted not in text and TOKEN not in text
    bad = f"nats://{USER}:wrong-{quoted}@127.0.0.1:{userpass_server.port}"
    with pytest.raises(AuthorizationError) as info:
        natsync.connect(bad, connect_timeout=1)
    assert quoted not in str(info.value) and quoted not in repr(info.value)
    from natsync.testing import free_port

    dead = f"nats://{USER}:{quoted}@127.0.0.1:{free_port()}"
    with pytest.raises(NoServersError) as info2:
        natsync.connect(dead, connect_timeout=0.5)
    assert quoted not in str(info2.value) and PASSWORD not in str(info2.value)
    assert PASSWORD not in caplog.text and quoted not in caplog.text


def test_seeds_never_logged(nkey_server: NatsServer, nkey_user: jh.Keys,
                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seed = nkey_user.seed.decode()
    with natsync.connect(nkey_server.url, nkeys_seed_str=seed) as nc:
        roundtrip(nc)
        assert seed not in repr(nc) and seed not in repr(nc.options)
    stranger = jh.new_keys("user").seed.decode()
    with pytest.raises(AuthorizationError):
        natsync.connect(nkey_server.url, nkeys_seed_str=stranger, connect_timeout=1)
    assert seed not in caplog.text and stranger not in caplog.text


def test_connect_auth_fields(nkey_user: jh.Keys) -> None:
    """The CONNECT auth fields carry the public key and a verifiable signature, no seed."""
    from natsync.servers import parse_url

    opts = Options(nkeys_seed_str=nkey_user.seed.decode())
    fields = natsync.auth.connect_auth(opts, parse_url("nats://127.0.0.1:4222"), "n0nce")
    assert set(fields) == {"nkey", "sig"}
    assert fields["nkey"] == nkey_user.public
    sig = base64.urlsafe_b64decode(fields["sig"] + "=" * (-len(fields["sig"]) % 4))
    kp = nkeys.from_seed(bytearray(nkey_user.seed))
    assert kp.verify(b"n0nce", sig)
    kp.wipe()

