"""Live feature flags for a web app, from a watched Key-Value bucket (plain WSGI, no Flask).

A background thread watches the bucket and keeps an in-memory dict current; request
handlers only read that dict, so checking a flag costs no network round trip, and a
change made anywhere (`nats kv put demo-flags new_checkout true` with the nats CLI,
nats-py, another natsync process) reaches every running instance within milliseconds.

    GET /        the page, rendered according to the flags
    GET /flags   the flags this instance sees, as JSON

    python examples/feature_flags_app.py

With NATS_URL set it uses that server; otherwise it starts an embedded nats-server with
JetStream. It serves the app with the standard library's wsgiref on a free 127.0.0.1 port,
changes flags from a separate "admin" connection and shows the app following along.
In Flask or Django, the FlagStore part is the same and the views read from it.
"""

from __future__ import annotations

import json
import socketserver
import sys
import threading
import time
import urllib.request
from typing import Any, Callable, Iterable, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import natsync
from natsync.kv import BucketNotFoundError, KeyValue, KeyWrongLastSequenceError
from natsync.testing import server_url

BUCKET = "demo-flags"
TRUE = {"1", "true", "yes", "on"}


# --- the part to copy: flags kept current by a watcher thread -----------------------------


class FlagStore:
    """The bucket's flags as a dict that a watcher thread keeps current; reads never touch NATS."""

    def __init__(self, kv: KeyValue) -> None:
        self._flags: dict[str, str] = {}
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self._watcher = kv.watchall()
        self._thread = threading.Thread(target=self._follow, name="flags-watch", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        """Apply every change; the watcher resumes by itself after reconnects and restarts."""
        try:
            for entry in self._watcher:  # blocks; ends when stop() is called
                with self._changed:
                    if entry is None:  # the initial values are all in
                        self._ready.set()
                    elif entry.operation == "PUT":
                        self._flags[entry.key] = entry.value.decode()
                    else:  # DEL or PURGE (or the server expiring it)
                        self._flags.pop(entry.key, None)
                    self._changed.notify_all()
        except Exception as exc:  # e.g. the connection was closed under us
            print(f"flag watcher stopped: {exc}", file=sys.stderr)

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Wait until the flags that existed at start are loaded."""
        return self._ready.wait(timeout)

    def enabled(self, name: str, default: bool = False) -> bool:
        """Whether flag `name` is on ("1", "true", "yes", "on")."""
        value = self._flags.get(name)
        return default if value is None else value.strip().lower() in TRUE

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The raw value of flag `name`."""
        return self._flags.get(name, default)

    def snapshot(self) -> dict[str, str]:
        """A copy of every flag."""
        with self._changed:
            return dict(self._flags)

    def wait_for(self, check: Callable[[FlagStore], bool], timeout: float = 5.0) -> bool:
        """Wait until `check(self)` holds (the demo uses it to time a change's arrival)."""
        with self._changed:
            return self._changed.wait_for(lambda: check(self), timeout)

    def stop(self) -> None:
        """Stop watching (the watcher's server-side consumer is deleted)."""
        self._watcher.stop()
        self._thread.join(5)


# --- the web app ---------------------------------------------------------------------------

StartResponse = Callable[..., Any]


def make_app(flags: FlagStore) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI app whose pages follow the flags."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/flags":
            body, ctype = json.dumps(flags.snapshot(), sort_keys=True), "application/json"
        elif path == "/":
            checkout = "one-page checkout" if flags.enabled("new_checkout") else "classic checkout"
            lines = [f"Welcome! You get the {checkout}."]
            if flags.get("banner"):
                lines.append(f"Banner: {flags.get('banner')}")
            if flags.enabled("dark_mode"):
                lines.append("(dark mode)")
            body, ctype = " ".join(lines), "text/plain; charset=utf-8"
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        data = body.encode()
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(data)))])
        return [data]

    return application


def toggle(kv: KeyValue, name: str, attempts: int = 10) -> str:
    """Flip a flag with compare-and-set, so two admins flipping at once cannot lose a flip."""
    for _ in range(attempts):
        entry = kv.get(name)
        new = "false" if entry.value.decode().lower() in TRUE else "true"
        try:
            kv.update(name, new.encode(), last=entry.revision)
            return new
        except KeyWrongLastSequenceError:
            continue  # someone else changed it first: read again
    raise RuntimeError(f"could not toggle {name!r}")


# --- the demo ------------------------------------------------------------------------------


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def run(url: str, say: Callable[[str], None] = print) -> None:
    nc = natsync.connect(url, name="flags-web")
    admin = natsync.connect(url, name="flags-admin")  # in real life: another process or the CLI
    try:
        js = nc.jetstream()
        try:
            js.delete_key_value(BUCKET)  # the demo's own bucket, left from an earlier run
        except BucketNotFoundError:
            pass
        kv = js.create_key_value(bucket=BUCKET, history=5, description="feature flags")
        kv.put("new_checkout", b"false")
        kv.put("banner", b"Spring sale: 20% off")
        kv.put("dark_mode", b"false")
        say(f"Created bucket {BUCKET!r} with flags new_checkout=false, banner, dark_mode=false.")

        flags = FlagStore(kv)
        assert flags.wait_ready(), "flags did not load"
        server = make_server("127.0.0.1", 0, make_app(flags), server_class=ThreadingWSGIServer,
                             handler_class=QuietHandler)
        base = f"http://127.0.0.1:{server.server_port}"
        serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
        serving.start()
        say(f"Serving the WSGI app at {base}.")
        try:
            say(f"GET / -> {fetch(base + '/')}")

            admin_kv = admin.jetstream().key_value(BUCKET)
            started = time.monotonic()
            admin_kv.put("new_checkout", b"true")
            arrived = flags.wait_for(lambda f: f.enabled("new_checkout"))
            ms = (time.monotonic() - started) * 1000
            say(f"Admin set new_checkout=true; the app saw it: {arrived} ({ms:.1f} ms, "
                "no restart, no polling).")
            say(f"GET / -> {fetch(base + '/')}")

            now = toggle(admin_kv, "dark_mode")
            flags.wait_for(lambda f: f.get("dark_mode") == now)
            say(f"Admin toggled dark_mode with compare-and-set: now {now}.")

            admin_kv.delete("banner")
            flags.wait_for(lambda f: f.get("banner") is None)
            say("Admin deleted the banner flag.")
            say(f"GET / -> {fetch(base + '/')}")
            say(f"GET /flags -> {fetch(base + '/flags')}")
        finally:
            server.shutdown()
            server.server_close()
            serving.join(5)
            flags.stop()
        js.delete_key_value(BUCKET)
        say(f"Deleted the demo's bucket {BUCKET!r}.")
    finally:
        admin.close()
        nc.close()
    say("Closed the connections.")


def main() -> int:
    with server_url(jetstream=True, say=print) as url:
        run(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
