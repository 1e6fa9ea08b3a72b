"""Pure unit tests of natsync.auth: .creds parsing, CONNECT auth fields, NKEY signing."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing
import nkeys
import pytest

from natsync import auth
from natsync.auth import connect_auth, creds_parts, sign_nonce
from natsync.errors import AuthenticationError
from natsync.options import Options
from natsync.servers import parse_url

FAKE_JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJmYWtlIjoidXNlciJ9.ZmFrZS1zaWc"
NONCE = "tGQ2nfWX5pCkqvQ"


def user_seed() -> bytes:
    return bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))


def public_of(seed: bytes) -> str:
    kp = nkeys.from_seed(bytearray(seed))
    try:
        return bytes(kp.public_key).decode()
    finally:
        kp.wipe()


def verify(public: str, nonce: str, sig: str) -> None:
    """Check `sig` (base64url, unpadded) over `nonce` with the encoded public key alone."""
    raw = base64.b32decode(public + "=" * (-len(public) % 8))
    assert raw[0] == nkeys.PREFIX_BYTE_USER
    assert len(raw) == 35  # prefix, 32-byte ed25519 key, CRC-16
    assert nkeys.crc16(raw[:-2]) == int.from_bytes(raw[-2:], "little")
    sig_bytes = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    nacl.signing.VerifyKey(raw[1:33]).verify(nonce.encode(), sig_bytes)


def creds_text(jwt: str, seed: bytes, newline: str = "\n") -> bytes:
    lines = [
        "-----BEGIN NATS USER JWT-----", jwt, "------END NATS USER JWT------", "",
        "************************* IMPORTANT *************************",
        "NKEY Seed printed below can be used to sign and prove identity.",
        "NKEYs are sensitive and should be treated as secrets.", "",
        "-----BEGIN USER NKEY SEED-----", seed.decode(), "------END USER NKEY SEED------", "",
        "*************************************************************", "",
    ]
    return newline.join(lines).encode()


@pytest.fixture
def seed() -> bytes:
    return user_seed()


def opts(**kwargs: Any) -> Options:
    return Options(**kwargs)


PLAIN = parse_url("nats://h:4222")


# --- helpers' self-check --------------------------------------------------------------------


def test_verify_helper_rejects_a_wrong_signature(seed: bytes) -> None:
    public, sig = sign_nonce(bytearray(seed), NONCE)
    verify(public, NONCE, sig)
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verify(public, NONCE + "x", sig)
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verify(public_of(user_seed()), NONCE, sig)


# --- creds_parts --------------------------------------------------------------------------


def test_creds_parts(seed: bytes) -> None:
    jwt, got_seed = creds_parts(bytearray(creds_text(FAKE_JWT, seed)))
    assert jwt == FAKE_JWT.encode()
    assert isinstance(got_seed, bytearray)
    assert bytes(got_seed) == seed


def test_creds_parts_crlf(seed: bytes) -> None:
    jwt, got_seed = creds_parts(bytearray(creds_text(FAKE_JWT, seed, "\r\n")))
    assert (jwt, bytes(got_seed)) == (FAKE_JWT.encode(), seed)


def test_creds_parts_indented_and_padded(seed: bytes) -> None:
    text = (f"  -----BEGIN NATS USER JWT-----\n   {FAKE_JWT}   \n  ------END NATS USER JWT------\n"
            f"\n-----BEGIN USER NKEY SEED-----\n\t{seed.decode()}\t\n------END USER NKEY SEED------\n")
    jwt, got_seed = creds_parts(bytearray(text.encode()))
    assert (jwt, bytes(got_seed)) == (FAKE_JWT.encode(), seed)


def test_creds_parts_wipes_its_input(seed: bytes) -> None:
    raw = bytearray(creds_text(FAKE_JWT, seed))
    creds_parts(raw)
    assert not any(raw)
    assert seed not in raw


@pytest.mark.parametrize("text", [
    b"",
    b"just some text",
    b"-----BEGIN NATS USER JWT-----\nabc\n------END NATS USER JWT------\n",
    b"-----BEGIN NATS USER JWT-----\nabc\n",
])
def test_creds_parts_incomplete(text: bytes) -> None:
    with pytest.raises(AuthenticationError, match="JWT"):
        creds_parts(bytearray(text))


# --- sign_nonce ---------------------------------------------------------------------------


def test_sign_nonce(seed: bytes) -> None:
    buf = bytearray(seed)
    public, sig = sign_nonce(buf, NONCE)
    assert public == public_of(seed)
    assert public.startswith("U") and len(public) == 56
    assert "=" not in sig and "+" not in sig and "/" not in sig
    verify(public, NONCE, sig)


def test_sign_nonce_wipes_the_seed(seed: bytes) -> None:
    buf = bytearray(seed)
    sign_nonce(buf, NONCE)
    assert len(buf) == len(seed)
    assert buf == bytearray(len(seed))


@pytest.mark.parametrize("bad", [
    b"SUnotaseed", b"not base32 at all!!", b"",
    # a valid user *public* key is not a seed
    None,
])
def test_sign_nonce_invalid_seed_is_wiped(bad: bytes | None, seed: bytes) -> None:
    raw = bytearray(public_of(seed).encode() if bad is None else bad)
    with pytest.raises(AuthenticationError, match="seed"):
        sign_nonce(raw, NONCE)
    assert not any(raw)


def test_sign_nonce_is_deterministic(seed: bytes) -> None:
    # ed25519 signatures are deterministic: same seed and nonce, same signature.
    assert sign_nonce(bytearray(seed), NONCE) == sign_nonce(bytearray(seed), NONCE)
    assert sign_nonce(bytearray(seed), NONCE)[1] != sign_nonce(bytearray(seed), "other")[1]


# --- connect_auth: user/password and token ------------------------------------------------


def test_no_credentials() -> None:
    assert connect_auth(opts(), PLAIN, None) == {}
    assert connect_auth(opts(), PLAIN, NONCE) == {}


def test_user_and_password_options() -> None:
    assert connect_auth(opts(user="u", password="p"), PLAIN, None) == {"user": "u", "pass": "p"}


def test_user_without_password() -> None:
    assert connect_auth(opts(user="u"), PLAIN, None) == {"user": "u", "pass": ""}


def test_token_option() -> None:
    assert connect_auth(opts(token="t"), PLAIN, NONCE) == {"auth_token": "t"}


def test_url_user_and_password_override_options() -> None:
    srv = parse_url("nats://url-user:url%20pass@h")
    fields = connect_auth(opts(user="opt-user", password="opt-pass"), srv, None)
    assert fields == {"user": "url-user", "pass": "url pass"}


def test_url_user_overrides_options_password_too() -> None:
    srv = parse_url("nats://url-user:@h")
    fields = connect_auth(opts(user="opt-user", password="opt-pass"), srv, None)
    assert fields == {"user": "url-user", "pass": ""}


def test_url_token_overrides_option_token() -> None:
    srv = parse_url("nats://url-token@h")
    assert connect_auth(opts(token="opt-token"), srv, None) == {"auth_token": "url-token"}


def test_url_credentials_without_options() -> None:
    assert connect_auth(opts(), parse_url("nats://a:b@h"), None) == {"user": "a", "pass": "b"}
    assert connect_auth(opts(), parse_url("nats://tk@h"), None) == {"auth_token": "tk"}


def test_options_used_when_url_has_no_credentials() -> None:
    fields = connect_auth(opts(user="u", password="p"), parse_url("nats://h"), None)
    assert fields == {"user": "u", "pass": "p"}


# --- connect_auth: NKEY seeds -------------------------------------------------------------


def test_nkey_seed_file(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "user.nk"
    path.write_bytes(seed + b"\n")
    fields = connect_auth(opts(nkeys_seed=str(path)), PLAIN, NONCE)
    assert set(fields) == {"nkey", "sig"}
    assert fields["nkey"] == public_of(seed)
    verify(fields["nkey"], NONCE, fields["sig"])
    assert path.read_bytes() == seed + b"\n"  # the file itself is left alone


def test_nkey_seed_file_among_other_text(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "user.nk"
    path.write_bytes(b"# my user key\r\n" + public_of(seed).encode() + b"\r\n  " + seed
                     + b"  \r\n# end\r\n")
    fields = connect_auth(opts(nkeys_seed=str(path)), PLAIN, NONCE)
    assert fields["nkey"] == public_of(seed)
    verify(fields["nkey"], NONCE, fields["sig"])


def test_nkey_seed_file_without_a_seed(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "user.nk"
    path.write_bytes(public_of(seed).encode() + b"\nSHORT\n")
    with pytest.raises(AuthenticationError, match="seed"):
        connect_auth(opts(nkeys_seed=str(path)), PLAIN, NONCE)


def test_nkey_seed_string(seed: bytes) -> None:
    fields = connect_auth(opts(nkeys_seed_str=" " + seed.decode() + "\n"), PLAIN, NONCE)
    assert fields["nkey"] == public_of(seed)
    verify(fields["nkey"], NONCE, fields["sig"])


def test_nkey_needs_a_nonce(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "user.nk"
    path.write_bytes(seed)
    with pytest.raises(AuthenticationError, match="nonce"):
        connect_auth(opts(nkeys_seed=str(path)), PLAIN, None)


def test_nkey_and_user_password_together(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "user.nk"
    path.write_bytes(seed)
    fields = connect_auth(opts(nkeys_seed=str(path), user="u", password="p"), PLAIN, NONCE)
    assert fields["user"] == "u" and fields["pass"] == "p"
    verify(fields["nkey"], NONCE, fields["sig"])


class SignSpy:
    """Wraps auth.sign_nonce and keeps the seed bytearrays it was given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seeds: list[bytearray] = []
        self._real = auth.sign_nonce
        monkeypatch.setattr(auth, "sign_nonce", self)

    def __call__(self, seed: bytearray, nonce: str) -> tuple[str, str]:
        assert isinstance(seed, bytearray)
        assert seed.startswith(b"SU")  # it really is the seed while signing
        self.seeds.append(seed)
        return self._real(seed, nonce)


@pytest.mark.parametrize("kind", ["seed_file", "seed_str", "creds", "creds_tuple"])
def test_seed_is_wiped_after_signing(kind: str, tmp_path: Path, seed: bytes,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    spy = SignSpy(monkeypatch)
    seed_path = tmp_path / "user.nk"
    seed_path.write_bytes(seed)
    creds_path = tmp_path / "user.creds"
    creds_path.write_bytes(creds_text(FAKE_JWT, seed))
    jwt_path = tmp_path / "user.jwt"
    jwt_path.write_text(FAKE_JWT)
    o = {
        "seed_file": opts(nkeys_seed=str(seed_path)),
        "seed_str": opts(nkeys_seed_str=seed.decode()),
        "creds": opts(user_credentials=str(creds_path)),
        "creds_tuple": opts(user_credentials=(str(jwt_path), str(seed_path))),
    }[kind]
    fields = connect_auth(o, PLAIN, NONCE)
    assert "sig" in fields
    [used] = spy.seeds
    assert len(used) == len(seed)
    assert used == bytearray(len(seed)), "the seed must be zeroed after signing"


def test_seed_is_wiped_when_there_is_no_nonce(tmp_path: Path, seed: bytes,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    wiped: list[bytearray] = []
    real_wipe = auth._wipe

    def spy_wipe(buf: bytearray) -> None:
        real_wipe(buf)
        wiped.append(buf)

    monkeypatch.setattr(auth, "_wipe", spy_wipe)
    path = tmp_path / "user.nk"
    path.write_bytes(seed)
    with pytest.raises(AuthenticationError):
        connect_auth(opts(nkeys_seed=str(path)), PLAIN, None)
    assert any(len(b) == len(seed) for b in wiped)
    assert all(not any(b) for b in wiped)


# --- connect_auth: JWT credentials --------------------------------------------------------


def test_creds_file(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "user.creds"
    path.write_bytes(creds_text(FAKE_JWT, seed))
    fields = connect_auth(opts(user_credentials=str(path)), PLAIN, NONCE)
    assert set(fields) == {"jwt", "sig"}  # with a JWT, the server learns the key from it
    assert fields["jwt"] == FAKE_JWT
    verify(public_of(seed), NONCE, fields["sig"])


def test_creds_file_crlf(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "user.creds"
    path.write_bytes(creds_text(FAKE_JWT, seed, "\r\n"))
    fields = connect_auth(opts(user_credentials=str(path)), PLAIN, NONCE)
    assert fields["jwt"] == FAKE_JWT
    verify(public_of(seed), NONCE, fields["sig"])


def test_creds_tuple(tmp_path: Path, seed: bytes) -> None:
    jwt_path = tmp_path / "user.jwt"
    jwt_path.write_text(FAKE_JWT + "\n")
    seed_path = tmp_path / "user.nk"
    seed_path.write_bytes(seed + b"\n")
    fields = connect_auth(opts(user_credentials=(str(jwt_path), str(seed_path))), PLAIN, NONCE)
    assert set(fields) == {"jwt", "sig"}
    assert fields["jwt"] == FAKE_JWT
    verify(public_of(seed), NONCE, fields["sig"])


def test_creds_tuple_with_a_creds_file_for_both(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "user.creds"
    path.write_bytes(creds_text(FAKE_JWT, seed))
    fields = connect_auth(opts(user_credentials=(str(path), str(path))), PLAIN, NONCE)
    assert fields["jwt"] == FAKE_JWT
    verify(public_of(seed), NONCE, fields["sig"])


def test_creds_file_without_seed(tmp_path: Path) -> None:
    path = tmp_path / "user.creds"
    path.write_text(f"-----BEGIN NATS USER JWT-----\n{FAKE_JWT}\n------END NATS USER JWT------\n")
    with pytest.raises(AuthenticationError):
        connect_auth(opts(user_credentials=str(path)), PLAIN, NONCE)


def test_creds_need_a_nonce(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "user.creds"
    path.write_bytes(creds_text(FAKE_JWT, seed))
    with pytest.raises(AuthenticationError, match="nonce"):
        connect_auth(opts(user_credentials=str(path)), PLAIN, None)


def test_user_jwt_cb_and_signature_cb() -> None:
    calls: list[str] = []

    def sign(nonce: str) -> bytes:
        calls.append(nonce)
        return b"c2lnbmF0dXJl"

    o = opts(user_jwt_cb=lambda: FAKE_JWT.encode(), signature_cb=sign)
    assert connect_auth(o, PLAIN, NONCE) == {"jwt": FAKE_JWT, "sig": "c2lnbmF0dXJl"}
    assert calls == [NONCE]
    o = opts(user_jwt_cb=lambda: FAKE_JWT, signature_cb=lambda n: "str-sig")
    assert connect_auth(o, PLAIN, NONCE) == {"jwt": FAKE_JWT, "sig": "str-sig"}


def test_signature_cb_needs_a_nonce() -> None:
    with pytest.raises(AuthenticationError, match="nonce"):
        connect_auth(opts(signature_cb=lambda n: b"x"), PLAIN, None)


def test_user_jwt_cb_overrides_the_creds_jwt(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "user.creds"
    path.write_bytes(creds_text(FAKE_JWT, seed))
    fields = connect_auth(opts(user_credentials=str(path), user_jwt_cb=lambda: "other.jwt.x"),
                          PLAIN, NONCE)
    assert fields["jwt"] == "other.jwt.x"
    verify(public_of(seed), NONCE, fields["sig"])


# --- missing files ------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["creds", "seed", "tuple_jwt", "tuple_seed"])
def test_missing_file_names_the_path(which: str, tmp_path: Path, seed: bytes) -> None:
    present = tmp_path / "present"
    present.write_bytes(creds_text(FAKE_JWT, seed))
    missing = str(tmp_path / "does-not-exist" / f"{which}.file")
    o = {
        "creds": opts(user_credentials=missing),
        "seed": opts(nkeys_seed=missing),
        "tuple_jwt": opts(user_credentials=(missing, str(present))),
        "tuple_seed": opts(user_credentials=(str(present), missing)),
    }[which]
    with pytest.raises(AuthenticationError) as exc:
        connect_auth(o, PLAIN, NONCE)
    assert missing in str(exc.value)


def test_unreadable_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(AuthenticationError) as exc:
        connect_auth(opts(nkeys_seed=str(tmp_path)), PLAIN, NONCE)
    assert str(tmp_path) in str(exc.value)


# --- secrets stay out of repr -------------------------------------------------------------


def test_options_repr_hides_secrets(seed: bytes) -> None:
    o = Options(user="visible-user", password="pw-SECRET", token="tok-SECRET",
                nkeys_seed_str=seed.decode(), nkeys_seed="/keys/SECRET.nk",
                user_credentials="/creds/SECRET.creds")
    text = repr(o)
    assert "SECRET" not in text
    assert seed.decode() not in text
    assert "visible-user" in text
    assert "password='***'" in text and "token='***'" in text
    assert "nkeys_seed_str='***'" in text


def test_options_repr_shows_unset_secrets_as_none() -> None:
    text = repr(Options())
    assert "password=None" in text and "token=None" in text


def test_options_repr_hides_a_credentials_tuple(seed: bytes) -> None:
    text = repr(Options(user_credentials=("/x/SECRET.jwt", "/x/SECRET.nk")))
    assert "SECRET" not in text
