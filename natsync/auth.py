"""Credentials for CONNECT: user/password, token, NKEY signatures and user JWTs.

Seed and .creds files are read at each handshake straight into a bytearray; the file
buffer is zeroed once the seed is located and the seed's own bytearray as soon as the
nonce is signed, so seeds do not stay in natsync's memory between connections. (The
nkeys and PyNaCl libraries make short-lived copies of their own while signing, and a seed
given as `nkeys_seed_str`, or .creds contents given as a str or bytes, is an immutable
object of the caller's that cannot be wiped.)

No error says what a credential holds: a value that is not a readable path is described,
never quoted, since it may be the secret itself (.creds contents, a seed, a token).
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any, Callable, Mapping, Optional

from .errors import AuthenticationError
from .options import Options
from .servers import Server

# A "-----BEGIN ...-----" line, one token (a JWT or a seed), then an "------END ...------" line.
_CREDS_BLOCK = re.compile(
    rb"-{3,}[^\n]*BEGIN[^\n]*-{3,}[ \t\r]*\n\s*([A-Za-z0-9_.=-]+)\s*\n"
    rb"[ \t\r]*-{3,}[^\n]*END[^\n]*-{3,}")
# An encoded seed: "S", the key type, then base32 (58 characters in all), alone on its line.
_SEED_LINE = re.compile(rb"(?m)^[ \t]*(S[A-Z2-7]{57,})[ \t\r]*$")


def _read_file(path: str, what: str) -> bytearray:
    """The whole file, read straight into a bytearray (no immutable copy is made)."""
    buf = bytearray()
    failure = ""
    try:
        with open(path, "rb", buffering=0) as fh:
            buf = bytearray(max(os.fstat(fh.fileno()).st_size, 0) + 1)
            n = 0
            while True:
                if n == len(buf):  # the file grew: move to a bigger buffer, wipe the old one
                    bigger = bytearray(len(buf) * 2)
                    bigger[:n] = buf
                    _wipe(buf)
                    buf = bigger
                with memoryview(buf) as view, view[n:] as rest:
                    got = fh.readinto(rest)
                if not got:
                    break
                n += got
    except OSError as exc:  # raised below, outside this block: the OSError (whose
        _wipe(buf)          # filename may be a mistaken secret) is not kept as its context
        failure = exc.strerror or type(exc).__name__
    if failure:
        raise AuthenticationError(f"cannot read {what} {shown_path(path)}: {failure}")
    data = buf[:n]  # a copy rather than shrinking `buf`, which may move it unwiped
    _wipe(buf)
    return data


def shown_path(path: object) -> str:
    """How an error names a credentials path: quoted when it looks like one (a separator,
    or a credentials file's extension), else only described, since a mistaken value may
    be the secret itself (a seed, a token, a JWT, a file's contents)."""
    if (isinstance(path, str) and 0 < len(path) <= 4096 and path.isprintable()
            and "BEGIN" not in path and not _SEED_LINE.search(path.encode())
            and ("/" in path or os.sep in path or path.endswith(_CREDS_EXTENSIONS))):
        return repr(path)
    size = len(path) if isinstance(path, (str, bytes, bytearray)) else 0
    return f"(a {type(path).__name__} of {size} characters, not shown: it does not look " \
           f"like a path)"


_CREDS_EXTENSIONS = (".creds", ".nk", ".jwt", ".seed", ".txt", ".key", ".pem")


def is_creds_text(value: object) -> bool:
    """Whether a `user_credentials` value is the contents of a .creds file, not a path."""
    if isinstance(value, (bytes, bytearray)):
        return True
    return isinstance(value, str) and ("BEGIN" in value or "\n" in value)


def _wipe(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


def creds_parts(raw: bytearray) -> tuple[bytes, bytearray]:
    """(jwt, seed) from the text of a .creds file; the seed as a wipeable bytearray.

    `raw` is wiped before returning (and on error).
    """
    try:
        spans = [m.span(1) for m in _CREDS_BLOCK.finditer(raw)]
        if len(spans) < 2:
            raise AuthenticationError(
                "credentials file must hold a user JWT block and an NKEY seed block")
        (j0, j1), (s0, s1) = spans[0], spans[1]
        return bytes(raw[j0:j1]), raw[s0:s1]
    finally:
        _wipe(raw)


def _jwt_from_text(raw: bytearray) -> bytes:
    """The JWT of a file holding just the JWT, or a decorated one (a .creds/.jwt file).

    `raw` is wiped before returning: it may be a whole .creds file, seed included.
    """
    try:
        match = _CREDS_BLOCK.search(raw)
        jwt = bytes(raw[match.start(1):match.end(1)] if match is not None else raw.strip())
        if not jwt:
            raise AuthenticationError("the JWT file is empty")
        return jwt
    finally:
        _wipe(raw)


def _seed_from_text(raw: bytearray) -> bytearray:
    """The seed in a file that holds just a seed, or a seed among other text (an .nk file).

    `raw` is wiped before returning (and on error).
    """
    try:
        match = _SEED_LINE.search(raw)
        if match is None:
            raise AuthenticationError("no NKEY seed (a line starting with 'S') found")
        start, end = match.span(1)
        return raw[start:end]
    finally:
        _wipe(raw)


_B32 = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")}


def _check_seed(seed: bytearray) -> None:
    """Raise AuthenticationError unless `seed` is base32 with a valid CRC-16 (nkeys does
    not check it, so a mistyped seed would sign with a different key)."""
    import nkeys

    raw = bytearray((len(seed) * 5) // 8)
    try:
        acc = bits = n = 0
        for ch in seed:
            value = _B32.get(ch)
            if value is None:
                raise AuthenticationError("invalid NKEY seed: not base32")
            acc = ((acc << 5) | value) & 0xFFFF
            bits += 5
            if bits >= 8:
                bits -= 8
                raw[n] = (acc >> bits) & 0xFF
                n += 1
        if n < 36 or raw[0] & 0xF8 != nkeys.PREFIX_BYTE_SEED:
            raise AuthenticationError("invalid NKEY seed: not a seed")
        if nkeys.crc16(memoryview(raw)[:n - 2]) != raw[n - 2] | raw[n - 1] << 8:
            raise AuthenticationError("invalid NKEY seed: checksum mismatch (mistyped or "
                                      "truncated?)")
    finally:
        acc = 0
        _wipe(raw)


def sign_nonce(seed: bytearray, nonce: str) -> tuple[str, str]:
    """(public key, signature) for the nonce; wipes `seed` before returning."""
    import nkeys

    try:
        _check_seed(seed)
        kp = nkeys.from_seed(seed)
    except AuthenticationError:
        _wipe(seed)
        raise
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
    try:
        creds = opts.user_credentials
        if creds is not None:
            if isinstance(creds, tuple):
                jwt = _jwt_from_text(_read_file(creds[0], "JWT file"))
                seed = _seed_from_text(_read_file(creds[1], "NKEY seed file"))
            elif isinstance(creds, str) and not is_creds_text(creds):
                jwt, seed = creds_parts(_read_file(creds, "credentials file"))
            else:  # the contents, e.g. from a Kubernetes secret or the environment
                text = creds.encode() if isinstance(creds, str) else creds
                jwt, seed = creds_parts(bytearray(text))
        elif opts.nkeys_seed is not None:
            seed = _seed_from_text(_read_file(opts.nkeys_seed, "NKEY seed file"))
        elif opts.nkeys_seed_str is not None:
            seed = bytearray(opts.nkeys_seed_str.strip().encode())

        if opts.user_jwt_cb is not None:
            value = opts.user_jwt_cb()
            jwt = value.encode() if isinstance(value, str) else bytes(value)
        if jwt is not None:
            fields["jwt"] = jwt.decode()

        if opts.signature_cb is not None:  # it signs instead of the seed
            if nonce is None:
                raise AuthenticationError("signature_cb is set but the server sent no nonce; "
                                          "is the server configured for nkeys/JWT?")
            sig = opts.signature_cb(nonce)
            fields["sig"] = sig.decode() if isinstance(sig, (bytes, bytearray)) else str(sig)
        elif seed is not None:
            if nonce is None:
                raise AuthenticationError("NKEY authentication needs a nonce but the server "
                                          "sent none; is the server configured for nkeys/JWT?")
            public, sig = sign_nonce(seed, nonce)
            fields["sig"] = sig
            if jwt is None:
                fields["nkey"] = public
    finally:
        if seed is not None:
            _wipe(seed)
    auths = opts.authenticators()
    if auths:
        fields.update(authenticator_fields(auths[0], nonce))
    return fields


AUTHENTICATOR_FIELDS = frozenset({"user", "pass", "auth_token", "nkey", "sig", "jwt"})


def authenticator_fields(fn: Callable[[Optional[str]], Mapping[str, Any]],
                         nonce: Optional[str]) -> dict[str, Any]:
    """The CONNECT fields a custom authenticator returns for this nonce, checked."""
    result = fn(nonce)
    if not isinstance(result, Mapping):
        raise AuthenticationError(f"authenticator must return a dict of CONNECT auth fields, "
                                  f"got {type(result).__name__}")
    unknown = sorted(set(result) - AUTHENTICATOR_FIELDS)
    if unknown:
        raise AuthenticationError(f"authenticator returned unknown field(s) {unknown}; "
                                  f"allowed: {sorted(AUTHENTICATOR_FIELDS)}")
    return {k: (v.decode() if isinstance(v, (bytes, bytearray)) else v)
            for k, v in result.items() if v is not None}
