"""A file upload service on the JetStream Object Store, as a plain WSGI app (no Flask needed).

    POST   /files/<name>   store the request body as object <name> (streamed, any size)
    GET    /files/<name>   the object back (its digest checked before the first byte goes out)
    GET    /files          the objects as JSON
    DELETE /files/<name>   delete it

    python examples/upload_app.py

With NATS_URL set it uses that server; otherwise it starts an embedded nats-server with
JetStream. It serves the app with the standard library's wsgiref on a free 127.0.0.1
port, uploads a few files with urllib, downloads them, and stops. The files are also
visible to other clients: `nats object ls uploads` (the nats CLI) or nats-py's
`js.object_store("uploads")`. In Flask or Django the view bodies stay the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import socketserver
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterable, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import natsync
from natsync.obs import (
    InvalidObjectNameError,
    ObjectInfo,
    ObjectMeta,
    ObjectNotFoundError,
    ObjectStore,
)
from natsync.testing import server_url

BUCKET = "uploads"
StartResponse = Callable[..., Any]


class BodyReader:
    """The request body as a binary file object that stops at Content-Length."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int = -1, /) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if size < 0 else min(size, self._left)
        data: bytes = self._stream.read(n)
        self._left -= len(data)
        return data


def describe(info: ObjectInfo) -> dict[str, Any]:
    """What the API says about a stored file."""
    ctype = info.headers.get("Content-Type") if info.headers is not None else None
    return {"name": info.name, "size": info.size, "chunks": info.chunks, "digest": info.digest,
            "content_type": ctype,
            "modified": info.mtime.isoformat() if info.mtime is not None else None}


def _json(start_response: StartResponse, status: str, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def make_app(obs: ObjectStore) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application storing files in `obs`."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if path in ("/files", "/files/") and method == "GET":
            return _json(start_response, "200 OK", [describe(i) for i in obs.list()])
        if not path.startswith("/files/"):
            return _json(start_response, "404 Not Found", {"error": f"no route {path}"})
        # PATH_INFO is decoded as latin-1 by WSGI; the client sent UTF-8.
        name = path[len("/files/"):].encode("latin-1").decode("utf-8", "replace")
        try:
            if method in ("POST", "PUT"):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                ctype = environ.get("CONTENT_TYPE") or "application/octet-stream"
                info = obs.put(name, BodyReader(environ["wsgi.input"], length),
                               meta=ObjectMeta(headers={"Content-Type": ctype}))
                return _json(start_response, "201 Created", describe(info))
            if method == "GET":
                # Download into a temporary file first: the digest is verified before the
                # client gets a single byte, and memory stays small whatever the size.
                tmp = tempfile.TemporaryFile()
                try:
                    info = obs.get(name, writeinto=tmp).info
                except BaseException:
                    tmp.close()
                    raise
                tmp.seek(0)
                headers = [("Content-Length", str(info.size)),
                           ("Content-Type", describe(info)["content_type"]
                            or "application/octet-stream"),
                           ("ETag", f'"{info.digest}"')]
                start_response("200 OK", headers)
                wrapper = environ.get("wsgi.file_wrapper")
                if wrapper is not None:
                    result: Iterable[bytes] = wrapper(tmp, 64 * 1024)
                    return result
                return iter(lambda: tmp.read(64 * 1024), b"")
            if method == "DELETE":
                obs.delete(name)
                return _json(start_response, "200 OK", {"deleted": name})
        except ObjectNotFoundError:
            return _json(start_response, "404 Not Found", {"error": f"no file {name!r}"})
        except InvalidObjectNameError as exc:
            return _json(start_response, "400 Bad Request", {"error": str(exc)})
        return _json(start_response, "405 Method Not Allowed", {"error": method})

    return application


# --- the demo: serve the app on a free port and use it ------------------------------------


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """A thread per request (wsgiref's own server handles one at a time)."""

    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def http(method: str, url: str, body: Optional[bytes] = None,
         content_type: Optional[str] = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def run(url: str, say: Callable[[str], None] = print) -> None:
    """Serve the upload app against the server at `url` and exercise it."""
    with natsync.connect(url, name="upload-app") as nc:
        js = nc.jetstream()
        existed = BUCKET in js.object_store_names()
        obs = js.create_object_store(BUCKET, description="files uploaded over HTTP")
        server = make_server("127.0.0.1", 0, make_app(obs), server_class=ThreadingWSGIServer,
                             handler_class=QuietHandler)
        base = f"http://127.0.0.1:{server.server_port}/files"
        serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
        serving.start()
        say(f"Serving the upload app at {base}.")
        try:
            photo = os.urandom(3 * 1024 * 1024 + 123)
            status, body, _ = http("POST", f"{base}/holiday/beach.jpg", photo, "image/jpeg")
            info = json.loads(body)
            say(f"POST /files/holiday/beach.jpg ({len(photo)} bytes): {status}, stored in "
                f"{info['chunks']} chunks with digest {info['digest'][:20]}...")
            status, body, _ = http("POST", f"{base}/notes.txt", "Grüße 👋\n".encode(),
                                   "text/plain; charset=utf-8")
            say(f"POST /files/notes.txt: {status}")

            status, body, headers = http("GET", f"{base}/holiday/beach.jpg")
            same = hashlib.sha256(body).digest() == hashlib.sha256(photo).digest()
            say(f"GET /files/holiday/beach.jpg: {status}, {len(body)} bytes, "
                f"{headers['Content-Type']}, identical to the upload: {same}")
            status, body, _ = http("GET", f"{base}/notes.txt")
            say(f"GET /files/notes.txt: {status}, {body.decode()!r}")

            status, body, _ = http("GET", base)
            listing = [(f["name"], f["size"]) for f in json.loads(body)]
            say(f"GET /files: {sorted(listing)}")

            status, body, _ = http("DELETE", f"{base}/notes.txt")
            say(f"DELETE /files/notes.txt: {status}")
            status, body, _ = http("GET", f"{base}/notes.txt")
            say(f"GET /files/notes.txt after the delete: {status} {json.loads(body)['error']}")
        finally:
            server.shutdown()
            server.server_close()
            serving.join(5)
            if not existed:
                js.delete_object_store(BUCKET)
                say(f"Deleted the demo's bucket {BUCKET!r}.")
    say("Closed the connection.")


def main() -> int:
    with server_url(jetstream=True, say=print) as url:
        run(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
