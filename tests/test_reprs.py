"""Readable reprs and notebook HTML of messages, KV entries, JetStream info and service
stats: plain text checks, with user data that must come out HTML-escaped."""

from __future__ import annotations

import datetime as dt

from natsync import Headers, Msg
from natsync.js.api import ConsumerConfig, ConsumerInfo, StreamConfig, StreamInfo, StreamState
from natsync.kv import Entry, Operation
from natsync.micro.api import EndpointStats, ServiceStats

EVIL = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"


def test_msg_html_escapes_subject_headers_and_data() -> None:
    headers = Headers({"X-Evil": EVIL})
    headers.add("X-Evil", "second & last")
    msg = Msg(None, "orders.<b>", "_INBOX.1", EVIL.encode(), headers)
    page = msg._repr_html_()
    assert "<script>" not in page and "<b>" not in page.replace("<b>Msg</b>", "")
    assert page.count(ESCAPED) == 2  # the header value and the data
    assert "orders.&lt;b&gt;" in page and "_INBOX.1" in page
    assert f"{ESCAPED}, second &amp; last" in page
    assert "<th style=\"text-align:left\">size</th><td style=\"text-align:left\">27</td>" in page


def test_msg_html_shows_binary_data_and_status() -> None:
    status = Headers()
    status.status, status.description = 503, "No Responders"
    page = Msg(None, "x", "", b"\xff\x00" * 200, status)._repr_html_()
    assert "503 No Responders" in page
    assert "b&#x27;\\xff\\x00" in page and "…" in page  # repr of non-UTF-8 bytes, cut short


def test_msg_repr_clips_long_data() -> None:
    text = repr(Msg(None, "big", "", b"a" * 100, None))
    assert text == f"<Msg subject='big' data={b'a' * 64 + b'...'!r}>"


def test_entry_repr_and_html() -> None:
    created = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    entry = Entry(bucket="cfg", key="color", value=EVIL.encode(), revision=7, created=created)
    assert repr(entry) == f"<Entry cfg/'color' revision=7 PUT value={EVIL.encode()!r}>"
    gone = Entry(bucket="cfg", key="old", value=b"", revision=8, operation=Operation.DEL)
    assert repr(gone) == "<Entry cfg/'old' revision=8 DEL>"
    page = entry._repr_html_()
    assert ESCAPED in page and "<script>" not in page
    assert "2026-01-02 03:04:05+00:00" in page and ">PUT<" in page and ">7<" in page


def test_stream_and_consumer_info_html() -> None:
    info = StreamInfo(config=StreamConfig(name="ORDERS", subjects=["orders.<*>"],
                                          description=EVIL),
                      state=StreamState(messages=12, bytes=345))
    page = info._repr_html_()
    assert "<caption><b>StreamInfo</b></caption>" in page
    nested = '<th style="text-align:left">config</th><td style="text-align:left"><table>'
    assert nested in page  # a nested table, not a repr string
    assert "ORDERS" in page and ESCAPED in page and "orders.&lt;*&gt;" in page
    assert ">12<" in page and ">345<" in page and "<script>" not in page
    consumer = ConsumerInfo(stream_name="ORDERS", name="worker",
                            config=ConsumerConfig(durable_name="worker"), num_pending=3)
    cpage = consumer._repr_html_()
    assert "ConsumerInfo" in cpage and "worker" in cpage and ">3<" in cpage
    assert "RetentionPolicy" not in page  # enums show their value


def test_service_stats_html_is_one_row_per_endpoint() -> None:
    stats = ServiceStats(
        name="calc", id="ID1", version="1.0.0",
        started=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc),
        endpoints=[EndpointStats(name="add", subject="calc.add", queue_group="q",
                                 num_requests=4, num_errors=1, last_error=f"500:{EVIL}",
                                 processing_time=8_000_000, average_processing_time=2_000_000),
                   EndpointStats(name="div", subject="calc.div")])
    page = stats._repr_html_()
    assert page.count("<tr>") == 3  # header + two endpoints
    assert "calc 1.0.0 (ID1), started 2026-01-02T00:00:00.000000Z" in page
    assert f"<td>500:{ESCAPED}</td>" in page and "<script>" not in page
    assert "<td>add</td><td>calc.add</td><td>q</td><td>4</td><td>1</td>" in page
    assert "<td>2.000</td>" in page
