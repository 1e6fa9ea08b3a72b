"""examples/upload_app.py runs against a real server and says what it should."""

from __future__ import annotations

from natsync.testing import NatsServer

from .conftest import run_example


def test_upload_app_example(nats_server: NatsServer) -> None:
    out = run_example("upload_app.py", nats_server.url)
    for phrase in (f"Using your server at {nats_server.url}",
                   "Serving the upload app at http://127.0.0.1:",
                   "POST /files/holiday/beach.jpg (3145851 bytes): 201, stored in 25 chunks "
                   "with digest SHA-256=",
                   "POST /files/notes.txt: 201",
                   "GET /files/holiday/beach.jpg: 200, 3145851 bytes, image/jpeg, "
                   "identical to the upload: True",
                   "GET /files/notes.txt: 200, 'Grüße 👋\\n'",
                   "GET /files: [('holiday/beach.jpg', 3145851), ('notes.txt', 13)]",
                   "DELETE /files/notes.txt: 200",
                   "GET /files/notes.txt after the delete: 404 no file 'notes.txt'",
                   "Deleted the demo's bucket 'uploads'.",
                   "Closed the connection."):
        assert phrase in out.stdout, f"{phrase!r} not in:\n{out.stdout}"
