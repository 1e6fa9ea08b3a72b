"""A small HTTP CONNECT proxy on 127.0.0.1 for the tests: Basic auth if asked, a record of
the CONNECT requests and of what each tunnel carried toward the server."""

from __future__ import annotations

import base64
import selectors
import socket
import threading
from typing import Optional

_RECORD = 64 * 1024


class ConnectProxy:
    """Accepts CONNECT host:port, checks credentials, then relays bytes both ways."""

    def __init__(self, auth: Optional[tuple[str, str]] = None, refuse: bool = False) -> None:
        self.auth = auth
        self.refuse = refuse
        self.requests: list[str] = []  # the CONNECT lines, in order
        self.upward: list[bytearray] = []  # per tunnel: what the client sent through it
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._socks.append(conn)
                self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            text, _, early = head.partition(b"\r\n\r\n")
            lines = text.decode("latin-1").split("\r\n")
            self.requests.append(lines[0])
            method, target, _ = (lines[0].split(" ") + ["", ""])[:3]
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (line.partition(":") for line in lines[1:])}
            if method != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            if self.auth is not None:
                want = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
                if headers.get("proxy-authorization") != want:
                    conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                 b"Proxy-Authenticate: Basic realm=\"test\"\r\n\r\n")
                    return
            if self.refuse:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            with self._lock:
                self._socks.append(upstream)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            record = bytearray(early)
            self.upward.append(record)
            if early:
                upstream.sendall(early)
            self._relay(conn, upstream, record)
        except OSError:
            pass
        finally:
            conn.close()

    def _relay(self, client: socket.socket, upstream: socket.socket, record: bytearray) -> None:
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(0.2):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(65536)
                    if not data:
                        return
                    if src is client and len(record) < _RECORD:
                        record += data[:_RECORD - len(record)]
                    key.data.sendall(data)
        finally:
            sel.close()
            upstream.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            socks, threads = list(self._socks), list(self._threads)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        self._accepter.join(5)
        for t in threads:
            t.join(5)

    def __enter__(self) -> ConnectProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
