"""One shared natsync client in a threaded web app (the pattern for Flask, Django, gunicorn).

The app below is a plain WSGI callable, so it runs with the standard library's wsgiref;
in Flask or Django the view bodies are the same and `get_nats()` is the part to copy:

- the client is created lazily, on the first request that needs it, once per process;
- every request thread shares it (natsync clients are thread-safe);
- after a fork the child forgets the parent's client and makes its own;
- at shutdown it is drained once.

    python examples/flask_app_pattern.py

With NATS_URL set it uses that server; otherwise it starts an embedded nats-server and
points NATS_URL at it, because the app itself only calls `natsync.connect()`, which reads
NATS_URL.
"""

from __future__ import annotations

import json
import os
import socketserver
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import natsync
from natsync.errors import NoRespondersError, TimeoutError
from natsync.testing import NatsServer

# --- the shared client: the part to copy into an app -------------------------------------

_client: Optional[natsync.Client] = None
_client_lock = threading.Lock()
connections_made = 0   # only so the demo can show that a single client was created


def get_nats() -> natsync.Client:
    """The process's natsync client, connected on first use (to NATS_URL)."""
    global _client, connections_made
    client = _client
    if client is not None and not client.is_closed:
        return client
    with _client_lock:
        if _client is None or _client.is_closed:
            _client = natsync.connect(name=f"web-{os.getpid()}")
            connections_made += 1
        return _client


def close_nats() -> None:
    """Drain the shared client (call it once at shutdown, e.g. from atexit)."""
    global _client
    with _client_lock:
        client, _client = _client, None
    if client is not None and not client.is_closed:
        client.drain()


def _forget_parent_client() -> None:
    # In a forked child (gunicorn worker, multiprocessing) the parent's client raises
    # ForkError; drop it so the child's first request connects anew. The lock may have
    # been held by another thread at fork time, so the child gets a fresh one too.
    global _client, _client_lock
    _client = None
    _client_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_client)

# --- the web app: two views -------------------------------------------------------------

StartResponse = Callable[..., Any]


def _reply(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """GET /time asks the time service; POST /orders publishes an event."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/")
    nc = get_nats()

    if method == "GET" and path == "/time":
        try:
            msg = nc.request("demo.time", b"", timeout=1)
        except NoRespondersError:
            return _reply(start_response, "503 Service Unavailable",
                          {"error": "no time service is running"})
        except TimeoutError:
            return _reply(start_response, "504 Gateway Timeout",
                          {"error": "the time service did not answer"})
        return _reply(start_response, "200 OK", {"time": msg.data.decode(),
                                                 "thread": threading.current_thread().name})

    if method == "POST" and path == "/orders":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size) if size else b""
        nc.publish("demo.orders.created", body, headers={"Content-Type": "application/json"})
        return _reply(start_response, "202 Accepted", {"queued": True})

    return _reply(start_response, "404 Not Found", {"error": f"no route {method} {path}"})


# --- the demo: a backend service, a threaded HTTP server and some traffic ---------------


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server handles one request at a time; this one uses a thread per request."""

    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def http(method: str, url: str, body: Optional[bytes] = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def run(say: Callable[[str], None] = print) -> None:
    """Serve the app on a free port and send it traffic; NATS_URL must be set."""
    # The backend service is another client (in real life, another process).
    backend = natsync.connect(name="time-service")
    orders: list[bytes] = []
    time_service = backend.subscribe("demo.time", queue="time",
                                     cb=lambda m: m.respond(time.strftime("%H:%M:%S").encode()))
    backend.subscribe("demo.orders.>", cb=lambda m: orders.append(m.data))
    backend.flush()

    server = make_server("127.0.0.1", 0, application, server_class=ThreadingWSGIServer,
                         handler_class=QuietHandler)
    base = f"http://127.0.0.1:{server.server_port}"
    serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    serving.start()
    say(f"Serving the WSGI app at {base}.")
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: http("GET", f"{base}/time"), range(20)))
        codes = sorted({code for code, _ in results})
        threads = {body["thread"] for _, body in results}
        say(f"GET /time x20 from 8 concurrent callers: status {codes}, handled on "
            f"{len(threads)} server threads sharing {connections_made} natsync connection.")

        with ThreadPoolExecutor(max_workers=4) as pool:
            posted = list(pool.map(
                lambda i: http("POST", f"{base}/orders", json.dumps({"order": i}).encode()),
                range(10)))
        deadline = time.monotonic() + 5
        while len(orders) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        say(f"POST /orders x10: status {sorted({code for code, _ in posted})}; "
            f"the backend received {len(orders)} order events.")

        time_service.unsubscribe()
        backend.flush()
        code, body = http("GET", f"{base}/time")
        say(f"With the time service stopped, GET /time answered {code}: {body['error']}.")
    finally:
        server.shutdown()
        server.server_close()
        serving.join(5)
        close_nats()
        backend.drain()
    say(f"Shut down: the shared client was drained once "
        f"({connections_made} connection made in all).")


def main() -> int:
    if os.environ.get("NATS_URL"):
        print(f"Using your server at {os.environ['NATS_URL']} (from NATS_URL).")
        run()
        return 0
    with NatsServer() as nats:
        os.environ["NATS_URL"] = nats.url   # what the app's connect() will read
        print(f"Started an embedded nats-server at {nats.url}.")
        run()
    print("Stopped the embedded server.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
