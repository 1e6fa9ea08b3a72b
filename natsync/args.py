"""Argument checks shared by the Client and the subsystems built on it."""

from __future__ import annotations

from typing import Any, Optional

from .errors import BadTimeoutError


def payload_bytes(payload: Any) -> bytes:
    """bytes from bytes-like payloads; a clear TypeError for str and everything else."""
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        raise TypeError("payload must be bytes, not str: encode it first, e.g. "
                        "payload.encode() or json.dumps(obj).encode()")
    raise TypeError(f"payload must be bytes, bytearray or memoryview, not {type(payload).__name__}")


def check_timeout(timeout: Optional[float], name: str = "timeout") -> None:
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
        raise BadTimeoutError(f"{name} must be a non-negative number of seconds or None, got {timeout!r}")


