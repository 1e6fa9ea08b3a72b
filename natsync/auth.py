"""Credentials for CONNECT: user/password, token, NKEY signatures and user JWTs.

Seeds are read from their file at each handshake into a bytearray that is zeroed as
soon as the nonce is signed, so they do not live in memory between connections.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Optional

from .errors import AuthenticationError
from .options import Options
from .servers import Server

_CREDS_BLOCK = re.compile(
    rb"-{3,}[^\n]*BEGIN[^\n]*-{3,}\s*\n(.+?)\n\s*-{3,}[^\n]*END[^\n]*-{3,}", re.DOTALL)


def _read_file(path: str, what: str) -> bytearray:
    try:
        with open(path, "rb") as fh:
            return bytearray(fh.read())
    except OSError as exc:
        raise AuthenticationError(f"cannot read {what} {path!r}: {exc.strerror}") from None


def _wipe(buf: bytearray) -> None:
    for i in range(len(buf)):
        buf[i] = 0


def creds_parts(raw: bytes) -> tuple[bytes, bytearray]:
    """(jwt, seed) from the text of a .creds file; the seed as a wipeable bytearray."""
    blocks = [m.group(1).strip() for m in _CREDS_BLOCK.finditer(raw)]
    if len(blocks) < 2:
        raise AuthenticationError("credentials file must hold a user JWT and an NKEY seed block")
    return bytes(blocks[0]), bytearray(blocks[1])


def _seed_from_text(raw: bytearray) -> bytearray:
    """The seed in a file that holds just a seed, or a seed among other text (an .nk file)."""
    for line in bytes(raw).splitlines():
        line = line.strip()
        if line.startswith(b"S") and len(line) >= 58:
            return bytearray(line)
    raise AuthenticationError("no NKEY seed (a line starting with 'S') found")


def sign_nonce(seed: bytearray, nonce: str) -> tuple[str, str]:
    """(public key, signature) for the nonce; wipes `seed` before returning."""
    import nkeys

    try:
        kp = nkeys.from_seed(seed)
    except Exception as exc:  # nkeys raises its own types for bad seeds
        _wipe(seed)
        raise AuthenticationError(f"invalid NKEY seed: {type(exc).__name__}") from None
    try:
        sig = kp.sign(nonce.encode())
        public = kp.public_key.decode()
    finally:
        kp.wipe()
        _wipe(seed)
    return public, base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def connect_auth(opts: Options, srv: Server, nonce: Optional[str]) -> dict[str, Any]:
    """The auth fields of CONNECT for this server (URL credentials win over options)."""
    fields: dict[str, Any] = {}
    user = srv.user if srv.user is not None else opts.user
    password = srv.password if srv.user is not None else opts.password
    token = srv.token if srv.token is not None else opts.token
    if user is not None:
        fields["user"] = user
        fields["pass"] = password or ""
    if token is not None:
        fields["auth_token"] = token

    jwt: Optional[bytes] = None
    seed: Optional[bytearray] = None
    creds = opts.user_credentials
    if creds is not None:
        if isinstance(creds, tuple):
            jwt = bytes(_read_file(creds[0], "JWT file")).strip()
            seed = _seed_from_text(_read_file(creds[1], "NKEY seed file"))
        else:
            jwt, seed = creds_parts(bytes(_read_file(creds, "credentials file")))
    elif opts.nkeys_seed is not None:
        seed = _seed_from_text(_read_file(opts.nkeys_seed, "NKEY seed file"))
    elif opts.nkeys_seed_str is not None:
        seed = bytearray(opts.nkeys_seed_str.strip().encode())

    if opts.user_jwt_cb is not None:
        value = opts.user_jwt_cb()
        jwt = value.encode() if isinstance(value, str) else bytes(value)
    if jwt is not None:
        fields["jwt"] = jwt.decode()

    if opts.signature_cb is not None:
        if nonce is None:
            raise AuthenticationError("signature_cb is set but the server sent no nonce")
        sig = opts.signature_cb(nonce)
        fields["sig"] = sig.decode() if isinstance(sig, (bytes, bytearray)) else str(sig)
    elif seed is not None:
        if nonce is None:
            _wipe(seed)
            raise AuthenticationError("NKEY authentication needs a nonce but the server sent none; "
                                      "is the server configured for nkeys/JWT?")
        public, sig = sign_nonce(seed, nonce)
        fields["sig"] = sig
        if jwt is None:
            fields["nkey"] = public
    return fields
