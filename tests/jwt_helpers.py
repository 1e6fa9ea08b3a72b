"""Test-only helpers: NKEY key pairs, NATS JWTs (ADR-14) and .creds files.

Enough of decentralised auth to configure a real nats-server in operator mode with a
memory resolver and to log in as a user of an account. Not part of the library.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import nkeys

_PREFIXES = {
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "user": nkeys.PREFIX_BYTE_USER,
}

# Limits of -1 mean "unlimited"; left out, they would be 0 and forbid everything.
_ACCOUNT_LIMITS = {
    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
    "wildcards": True, "conn": -1, "leaf": -1,
}
_USER_LIMITS = {"subs": -1, "data": -1, "payload": -1}


@dataclass
class Keys:
    """An NKEY key pair: `seed` (b"S...") and `public` ("O...", "A..." or "U...")."""

    seed: bytes
    public: str

    def sign(self, data: bytes) -> bytes:
        kp = nkeys.from_seed(bytearray(self.seed))
        try:
            return bytes(kp.sign(data))
        finally:
            kp.wipe()


def new_keys(kind: str) -> Keys:
    """A fresh random key pair of `kind` "operator", "account" or "user"."""
    seed = bytes(nkeys.encode_seed(os.urandom(32), _PREFIXES[kind]))
    kp = nkeys.from_seed(bytearray(seed))
    public = bytes(kp.public_key).decode()
    kp.wipe()
    return Keys(seed=seed, public=public)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_jwt(issuer: Keys, subject: str, name: str, nats: dict[str, Any],
               expires: Optional[int] = None) -> str:
    """A JWT with the given `nats` claims, issued (and signed) by `issuer`."""
    claims: dict[str, Any] = {
        "jti": "",
        "iat": int(time.time()),
        "iss": issuer.public,
        "name": name,
        "sub": subject,
        "nats": nats,
    }
    if expires is not None:
        claims["exp"] = expires
    unhashed = json.dumps(claims, separators=(",", ":")).encode()
    claims["jti"] = base64.b32encode(hashlib.sha256(unhashed).digest()).decode().rstrip("=")
    header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"},
                             separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{body}".encode()
    return f"{header}.{body}.{_b64(issuer.sign(signing_input))}"


def operator_jwt(operator: Keys, name: str = "test-operator",
                 system_account: Optional[str] = None) -> str:
    """A self-signed operator JWT."""
    nats: dict[str, Any] = {"type": "operator", "version": 2}
    if system_account is not None:
        nats["system_account"] = system_account
    return encode_jwt(operator, operator.public, name, nats)


def account_jwt(operator: Keys, account: Keys, name: str = "test-account") -> str:
    """An account JWT signed by the operator, with unlimited limits."""
    nats = {
        "type": "account", "version": 2,
        "limits": dict(_ACCOUNT_LIMITS),
        "default_permissions": {"pub": {}, "sub": {}},
    }
    return encode_jwt(operator, account.public, name, nats)


def user_jwt(account: Keys, user: Keys, name: str = "test-user",
             expires: Optional[int] = None) -> str:
    """A user JWT signed by the account, allowed everything."""
    nats = {"type": "user", "version": 2, "pub": {}, "sub": {}, **_USER_LIMITS}
    return encode_jwt(account, user.public, name, nats, expires=expires)


def creds_text(jwt: str, seed: bytes) -> str:
    """The text of a .creds file holding `jwt` and the user's `seed`."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n"
        "\n"
        "# The seed below proves the user's identity: keep this file secret.\n"
        "\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed.decode()}\n"
        "------END USER NKEY SEED------\n"
    )


def write_creds(path: Path, jwt: str, seed: bytes) -> str:
    """Write a .creds file (mode 0600) and return its path as a str."""
    path.write_text(creds_text(jwt, seed))
    path.chmod(0o600)
    return str(path)


@dataclass
class Decentralized:
    """An operator with one (system) account and one user account, plus a user of it."""

    operator: Keys
    system: Keys
    account: Keys
    user: Keys
    operator_jwt: str
    system_jwt: str
    account_jwt: str
    user_jwt: str

    def server_config(self) -> dict[str, Any]:
        """nats-server config (for NatsServer(config=...)) trusting this operator."""
        return {
            "operator": self.operator_jwt,
            "system_account": self.system.public,
            "resolver": "MEMORY",
            "resolver_preload": {
                self.system.public: self.system_jwt,
                self.account.public: self.account_jwt,
            },
        }


def decentralized() -> Decentralized:
    """Fresh keys and JWTs for an operator-mode server."""
    operator = new_keys("operator")
    system = new_keys("account")
    account = new_keys("account")
    user = new_keys("user")
    return Decentralized(
        operator=operator, system=system, account=account, user=user,
        operator_jwt=operator_jwt(operator, system_account=system.public),
        system_jwt=account_jwt(operator, system, name="SYS"),
        account_jwt=account_jwt(operator, account),
        user_jwt=user_jwt(account, user),
    )
