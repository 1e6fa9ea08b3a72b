"""Pure unit tests of natsync.protocol: the sans-I/O parser and the encoders, on bytes only."""

from __future__ import annotations

import json
import time
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from natsync.errors import ProtocolError
from natsync.headers import Headers
from natsync.protocol import (
    DEFAULT_MAX_CONTROL_LINE,
    ERR,
    INFO,
    MAX_PAYLOAD_LIMIT,
    MSG,
    OK,
    PING,
    PING_FRAME,
    PONG,
    PONG_FRAME,
    Parser,
    encode_connect,
    encode_pub,
    encode_sub,
    encode_unsub,
    outbound_frames,
)

HYPO = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def feed_all(data: bytes, parser: Optional[Parser] = None) -> list[Any]:
    p = parser or Parser()
    events = p.feed(data)
    assert p.buffered == 0, "a complete stream must leave nothing buffered"
    return events


def feed_pieces(pieces: list[bytes], parser: Optional[Parser] = None) -> list[Any]:
    p = parser or Parser()
    events: list[Any] = []
    for piece in pieces:
        events.extend(p.feed(piece))
    return events


def bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


# --- control operations -------------------------------------------------------------------


def test_op_codes_are_distinct() -> None:
    assert len({MSG, INFO, PING, PONG, OK, ERR}) == 6


def test_ping_pong_ok() -> None:
    assert feed_all(b"PING\r\nPONG\r\n+OK\r\n") == [(PING,), (PONG,), (OK,)]


def test_ping_and_pong_frames_parse_back() -> None:
    assert feed_all(PING_FRAME + PONG_FRAME) == [(PING,), (PONG,)]


@pytest.mark.parametrize("line", [b"ping", b"Ping", b"pInG", b"PING "])
def test_ping_any_case(line: bytes) -> None:
    assert feed_all(line + b"\r\n") == [(PING,)]


@pytest.mark.parametrize("raw, expected", [
    (b"pong", (PONG,)), (b"PoNg", (PONG,)), (b"+ok", (OK,)), (b"+Ok", (OK,)),
])
def test_other_controls_any_case(raw: bytes, expected: tuple) -> None:
    assert feed_all(raw + b"\r\n") == [expected]


@pytest.mark.parametrize("raw, text", [
    (b"-ERR 'Authorization Violation'", "Authorization Violation"),
    (b"-ERR 'Permissions Violation for Subscription to \"foo\"'",
     'Permissions Violation for Subscription to "foo"'),
    (b"-ERR  'Stale Connection'  ", "Stale Connection"),
    (b"-ERR\t'Unknown Protocol Operation'", "Unknown Protocol Operation"),
    (b"-ERR no quotes here", "no quotes here"),
    (b"-ERR 'only leading", "'only leading"),
    (b"-ERR ''", ""),
    (b"-ERR '", "'"),
    (b"-ERR", ""),
    (b"-err 'lower case'", "lower case"),
    (b"-ERR 'it''s'", "it''s"),
    (b"-ERR '\xff\xfe'", "\ufffd\ufffd"),
])
def test_err_text(raw: bytes, text: str) -> None:
    assert feed_all(raw + b"\r\n") == [(ERR, text)]


def test_info_object() -> None:
    info = {"server_id": "NABC", "version": "2.10.0", "max_payload": 1048576,
            "headers": True, "connect_urls": ["10.0.0.1:4222", "[::1]:4222"],
            "nonce": "abc", "nested": {"a": [1, 2, {"b": None}]}}
    raw = b"INFO " + json.dumps(info).encode() + b"\r\n"
    assert feed_all(raw) == [(INFO, info)]


@pytest.mark.parametrize("raw", [b"info {}", b"Info {}", b"INFO\t{}", b"INFO   {}  "])
def test_info_any_case_and_spacing(raw: bytes) -> None:
    assert feed_all(raw + b"\r\n") == [(INFO, {})]


def test_info_unicode() -> None:
    raw = 'INFO {"name":"süd-östlich 中"}\r\n'.encode()
    assert feed_all(raw) == [(INFO, {"name": "süd-östlich 中"})]


@pytest.mark.parametrize("raw", [
    b"INFO {", b"INFO {'single': 1}", b"INFO", b"INFO \xff\xfe", b"INFO {} trailing",
    b"INFO {\"a\":1,}", b"INFO " + b"[" * 5000, b"INFO {\"a\": " + b"[" * 20000 + b"]" * 20000 + b"}",
    b"INFO {\"n\": " + b"9" * 5000 + b"}",
])
def test_info_invalid_json(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="INFO is not valid JSON"):
        Parser().feed(raw + b"\r\n")


@pytest.mark.parametrize("raw", [b"INFO []", b"INFO 1", b"INFO \"x\"", b"INFO null", b"INFO true"])
def test_info_not_an_object(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="not a JSON object"):
        Parser().feed(raw + b"\r\n")


@pytest.mark.parametrize("raw", [b"FOO bar", b"PUB foo 1", b"MSGX foo 1 0", b"HMSGS a 1 0 0",
                                 b"OK", b"ERR 'x'", b"+OKAY", b"\x00\x01", b"  ", b""])
def test_unknown_op(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="unknown protocol operation"):
        Parser().feed(raw + b"\r\n")


def test_unknown_op_after_good_lines_raises() -> None:
    # The parser raises on the bad line (the client then drops the connection and starts a
    # fresh parser for the next one).
    with pytest.raises(ProtocolError):
        Parser().feed(b"PING\r\nBOGUS\r\n")
    assert Parser().feed(b"PING\r\n") == [(PING,)]


# --- MSG ----------------------------------------------------------------------------------


def test_msg_without_reply() -> None:
    assert feed_all(b"MSG foo.bar 9 5\r\nhello\r\n") == [(MSG, 9, "foo.bar", "", b"hello", None)]


def test_msg_with_reply() -> None:
    assert feed_all(b"MSG foo 1 _INBOX.abc.1 2\r\nhi\r\n") == [
        (MSG, 1, "foo", "_INBOX.abc.1", b"hi", None)]


def test_msg_zero_length() -> None:
    assert feed_all(b"MSG foo 1 0\r\n\r\nMSG foo 2 r 0\r\n\r\n") == [
        (MSG, 1, "foo", "", b"", None), (MSG, 2, "foo", "r", b"", None)]


def test_msg_payload_with_crlf_and_protocol_text() -> None:
    payload = b"\r\nMSG foo 1 2\r\nhi\r\nPING\r\n\r\n"
    raw = b"MSG foo 1 %d\r\n%b\r\nPONG\r\n" % (len(payload), payload)
    assert feed_all(raw) == [(MSG, 1, "foo", "", payload, None), (PONG,)]


def test_msg_binary_payload() -> None:
    payload = bytes(range(256)) * 4
    raw = b"MSG bin 7 %d\r\n%b\r\n" % (len(payload), payload)
    assert feed_all(raw) == [(MSG, 7, "bin", "", payload, None)]
    assert feed_pieces(bytewise(raw)) == [(MSG, 7, "bin", "", payload, None)]


@pytest.mark.parametrize("raw", [
    b"msg foo 1 2\r\nhi\r\n", b"Msg foo 1 2\r\nhi\r\n", b"mSg foo 1 2\r\nhi\r\n",
    b"MSG  foo 1 2\r\nhi\r\n", b"MSG foo  1   2\r\nhi\r\n", b"MSG foo 1 2 \r\nhi\r\n",
    b"MSG\tfoo\t1\t2\r\nhi\r\n", b"MSG\t\tfoo 1 2\r\nhi\r\n", b"MSG \tfoo\t 1 \t2\r\nhi\r\n",
    b"msg\tfoo 1 2\r\nhi\r\n", b" MSG foo 1 2\r\nhi\r\n", b"  msg foo 1 2\r\nhi\r\n",
])
def test_msg_case_and_separators(raw: bytes) -> None:
    assert feed_all(raw) == [(MSG, 1, "foo", "", b"hi", None)]


@pytest.mark.parametrize("raw", [
    b"MSG foo 1 bar 2\r\nhi\r\n", b"MSG foo 1\tbar\t2\r\nhi\r\n", b"msg  foo  1  bar  2\r\nhi\r\n",
    b"MSG foo 1 \tbar 2\r\nhi\r\n", b"MSG foo\t\t1 bar\t \t2\r\nhi\r\n",
])
def test_msg_with_reply_case_and_separators(raw: bytes) -> None:
    assert feed_all(raw) == [(MSG, 1, "foo", "bar", b"hi", None)]


def test_msg_unicode_subject_and_reply() -> None:
    raw = "MSG süß.中 3 rép 1\r\nx\r\n".encode()
    assert feed_all(raw) == [(MSG, 3, "süß.中", "rép", b"x", None)]


def test_msg_large_sid() -> None:
    assert feed_all(b"MSG a 123456789012345 1\r\nx\r\n") == [
        (MSG, 123456789012345, "a", "", b"x", None)]


def test_many_messages_in_one_feed() -> None:
    raw = b"".join(b"MSG s.%d %d %d\r\n%b\r\n" % (i, i, i % 7, b"x" * (i % 7)) for i in range(500))
    events = feed_all(raw)
    assert events == [(MSG, i, f"s.{i}", "", b"x" * (i % 7), None) for i in range(500)]


def test_a_repeated_line_parses_the_same_every_time() -> None:
    """The parser keeps lines it has seen (without a reply): the second and later
    messages of a line come from that table and must equal a fresh parse, across feeds,
    splits, other sizes and replies on the same subject."""
    frames = [b"MSG s 1 2\r\nab\r\n", b"MSG s 1 3\r\nabc\r\n", b"MSG s 1 r 2\r\nab\r\n",
              b"MSG s  1 2\r\nxy\r\n", b"MSG s 2 2\r\ncd\r\n"]
    raw = b"".join(frames * 3)
    expected = [e for f in frames * 3 for e in Parser().feed(f)]
    p = Parser()
    assert p.feed(raw) == expected
    assert p.feed(raw) == expected  # now every reply-less line is known
    for cut in range(1, len(raw)):
        assert feed_pieces([raw[:cut], raw[cut:]], p) == expected, cut


def test_a_known_line_with_a_bad_payload_end_still_raises() -> None:
    p = Parser()
    p.feed(b"MSG s 1 2\r\nab\r\n")
    with pytest.raises(ProtocolError, match="not followed by CRLF"):
        p.feed(b"MSG s 1 2\r\nabX\r\n")


def test_the_table_of_known_lines_is_bounded() -> None:
    """A stream of ever new subjects neither grows memory without bound nor parses wrong."""
    p = Parser()
    raw = b"".join(b"MSG s.%d %d 1\r\nx\r\n" % (i, i) for i in range(5000))
    events = p.feed(raw)
    assert events == [(MSG, i, f"s.{i}", "", b"x", None) for i in range(5000)]
    assert p.feed(raw) == events
    assert 0 < len(p._lines) <= 1024


def test_partial_message_is_buffered_until_complete() -> None:
    p = Parser()
    assert p.feed(b"MSG foo 1 5\r\nhe") == []
    assert p.buffered == len(b"MSG foo 1 5\r\nhe")
    assert p.feed(b"llo") == []
    assert p.buffered == len(b"MSG foo 1 5\r\nhello")
    assert p.feed(b"\r") == []
    assert p.feed(b"\nPI") == [(MSG, 1, "foo", "", b"hello", None)]
    assert p.buffered == 2
    assert p.feed(b"NG\r\n") == [(PING,)]
    assert p.buffered == 0


def test_partial_control_line_is_buffered() -> None:
    p = Parser()
    assert p.feed(b"MSG foo") == []
    assert p.buffered == 7
    assert p.feed(b" 1 2\r") == []
    assert p.buffered == 12
    assert p.feed(b"\nhi\r\n") == [(MSG, 1, "foo", "", b"hi", None)]
    assert p.buffered == 0


def test_buffered_is_zero_initially_and_after_complete_events() -> None:
    p = Parser()
    assert p.buffered == 0
    p.feed(b"PING\r\n")
    assert p.buffered == 0
    p.feed(b"INFO {}\r\nMSG a 1 1\r\nx\r\n")
    assert p.buffered == 0


def test_every_split_of_a_mixed_stream() -> None:
    hdr = b"NATS/1.0\r\nA: 1\r\n\r\n"
    raw = (b"INFO {\"a\":1}\r\nMSG foo 1 2\r\nhi\r\nHMSG bar 2 r %d %d\r\n%bxyz\r\n"
           b"PING\r\n-ERR 'x'\r\nMSG z 3 0\r\n\r\n+OK\r\n" % (len(hdr), len(hdr) + 3, hdr))
    expected = feed_all(raw)
    assert [e[0] for e in expected] == [INFO, MSG, MSG, PING, ERR, MSG, OK]
    for i in range(len(raw) + 1):
        for j in range(i, len(raw) + 1, 7):
            p = Parser()
            got = p.feed(raw[:i]) + p.feed(raw[i:j]) + p.feed(raw[j:])
            assert got == expected, (i, j)
            assert p.buffered == 0


def test_feeding_empty_bytes_is_harmless() -> None:
    p = Parser()
    assert p.feed(b"") == []
    assert p.feed(b"MSG a 1 3\r\nx") == []
    assert p.feed(b"") == []
    assert p.feed(b"yz\r\n") == [(MSG, 1, "a", "", b"xyz", None)]
    assert p.feed(b"") == []


# --- HMSG ---------------------------------------------------------------------------------


def hmsg(subject: str, sid: int, hdr: bytes, payload: bytes, reply: str = "") -> bytes:
    rep = f" {reply}" if reply else ""
    line = f"HMSG {subject} {sid}{rep} {len(hdr)} {len(hdr) + len(payload)}\r\n".encode()
    return line + hdr + payload + b"\r\n"


def test_hmsg_without_reply() -> None:
    hdr = b"NATS/1.0\r\nFoo: bar\r\nFoo: baz\r\nX-Other: 1\r\n\r\n"
    [ev] = feed_all(hmsg("foo", 4, hdr, b"payload"))
    op, sid, subject, reply, payload, headers = ev
    assert (op, sid, subject, reply, payload) == (MSG, 4, "foo", "", b"payload")
    assert isinstance(headers, Headers)
    assert headers.get_all("foo") == ["bar", "baz"]
    assert headers["x-other"] == "1"
    assert headers.status is None
    assert headers.items_all() == [("Foo", "bar"), ("Foo", "baz"), ("X-Other", "1")]


def test_hmsg_with_reply() -> None:
    hdr = b"NATS/1.0\r\nk: v\r\n\r\n"
    [ev] = feed_all(hmsg("foo", 4, hdr, b"p", reply="_INBOX.x"))
    assert ev[:5] == (MSG, 4, "foo", "_INBOX.x", b"p")
    assert ev[5] == Headers({"k": "v"})


def test_hmsg_empty_payload_and_empty_headers() -> None:
    [ev] = feed_all(hmsg("foo", 1, b"NATS/1.0\r\n\r\n", b""))
    assert ev[:5] == (MSG, 1, "foo", "", b"")
    assert len(ev[5]) == 0 and ev[5].status is None


@pytest.mark.parametrize("status_line, status, description", [
    (b"NATS/1.0 503", 503, ""),
    (b"NATS/1.0 408 Request Timeout", 408, "Request Timeout"),
    (b"NATS/1.0 100 Idle Heartbeat", 100, "Idle Heartbeat"),
    (b"NATS/1.0 404 No Messages", 404, "No Messages"),
    (b"NATS/1.0  409   Consumer Deleted ", 409, "Consumer Deleted"),
])
def test_hmsg_status_lines(status_line: bytes, status: int, description: str) -> None:
    hdr = status_line + b"\r\nNats-Last-Consumer: 5\r\nNats-Last-Stream: 7\r\n\r\n"
    [ev] = feed_all(hmsg("_INBOX.x", 2, hdr, b""))
    h = ev[5]
    assert (h.status, h.description) == (status, description)
    assert h["nats-last-consumer"] == "5" and h["Nats-Last-Stream"] == "7"
    assert ev[4] == b""


def test_hmsg_status_without_headers() -> None:
    [ev] = feed_all(hmsg("_INBOX.x", 2, b"NATS/1.0 503\r\n\r\n", b""))
    assert ev[5].status == 503 and len(ev[5]) == 0


@pytest.mark.parametrize("raw", [
    b"hmsg foo 1 %d %d\r\n%b%b\r\n", b"HMsg\tfoo\t1\t%d\t%d\r\n%b%b\r\n",
    b"HMSG  foo  1  %d  %d \r\n%b%b\r\n", b"HMSG\t\tfoo 1 %d %d\r\n%b%b\r\n",
])
def test_hmsg_case_and_separators(raw: bytes) -> None:
    hdr = b"NATS/1.0\r\nA: b\r\n\r\n"
    [ev] = feed_all(raw % (len(hdr), len(hdr) + 2, hdr, b"pl"))
    assert ev[:5] == (MSG, 1, "foo", "", b"pl")
    assert ev[5] == Headers({"A": "b"})


def test_hmsg_payload_with_crlf() -> None:
    hdr = b"NATS/1.0\r\nA: b\r\n\r\n"
    payload = b"\r\n\r\nNATS/1.0\r\n\r\n"
    [ev] = feed_all(hmsg("s", 1, hdr, payload))
    assert ev[4] == payload and ev[5] == Headers({"A": "b"})


def test_hmsg_header_value_with_colon_and_spaces() -> None:
    hdr = b"NATS/1.0\r\nUrl: http://x:1/a b\r\nK:no-space\r\nE:\r\n\r\n"
    [ev] = feed_all(hmsg("s", 1, hdr, b""))
    assert ev[5].items_all() == [("Url", "http://x:1/a b"), ("K", "no-space"), ("E", "")]


def test_hmsg_header_length_greater_than_total() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        Parser().feed(b"HMSG foo 1 20 12\r\nNATS/1.0\r\n\r\n\r\n")


@pytest.mark.parametrize("raw", [
    b"HMSG foo 1 x 12\r\nNATS/1.0\r\n\r\n\r\n",
    b"HMSG foo 1 -1 12\r\nNATS/1.0\r\n\r\n\r\n",
    b"HMSG foo 1 +12 12\r\nNATS/1.0\r\n\r\n\r\n",
])
def test_hmsg_bad_header_length(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="bad size"):
        Parser().feed(raw)


@pytest.mark.parametrize("hdr", [
    b"", b"NATS/1.1\r\n\r\n", b"HTTP/1.0\r\n\r\n", b"NATS/1.0 abc\r\n\r\n",
    b"NATS/1.0\r\nno colon\r\n\r\n", b"NATS/1.0\r\n: empty name\r\n\r\n",
    b"NATS/1.0\r\nK: \xff\r\n\r\n", "NATS/1.0 ²\r\n\r\n".encode(), "NATS/1.0 ١٢\r\n\r\n".encode(),
])
def test_hmsg_bad_header_block(hdr: bytes) -> None:
    with pytest.raises(ProtocolError):
        Parser().feed(hmsg("foo", 1, hdr, b"x"))


def test_hmsg_too_few_arguments() -> None:
    with pytest.raises(ProtocolError, match="bad message line"):
        Parser().feed(b"HMSG foo 12\r\nNATS/1.0\r\n\r\n\r\n")


# --- bad MSG lines ------------------------------------------------------------------------


@pytest.mark.parametrize("line", [
    b"MSG foo x 2", b"MSG foo 1 x", b"MSG foo 1 r x", b"MSG foo", b"MSG foo 1", b"MSG",
    b"MSG a b c d e", b"MSG foo 1 0x2", b"MSG foo 1 2.0", b"MSG foo 1.5 2",
    b"MSG \xff\xfe 1 2", b"MSG foo 1 \xff 2", b"HMSG \xff 1 2 2", b"MSG foo 1 \x002",
    b"MSG a 1 " + b"9" * 5000, b"MSG a " + b"9" * 5000 + b" 1",
])
def test_bad_message_line(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        Parser().feed(line + b"\r\nhi\r\n")


def test_negative_length() -> None:
    with pytest.raises(ProtocolError, match="outside"):
        Parser().feed(b"MSG foo 1 -2\r\nhi\r\n")


def test_huge_declared_length() -> None:
    with pytest.raises(ProtocolError, match="outside"):
        Parser().feed(b"MSG foo 1 %d\r\n" % (MAX_PAYLOAD_LIMIT + 1))


def test_declared_length_above_custom_max_payload() -> None:
    p = Parser(max_payload=100)
    assert p.feed(b"MSG foo 1 100\r\n" + b"x" * 100 + b"\r\n")[0][4] == b"x" * 100
    with pytest.raises(ProtocolError, match="outside"):
        Parser(max_payload=100).feed(b"MSG foo 1 101\r\n")
    with pytest.raises(ProtocolError):
        Parser(max_payload=100).feed(b"HMSG foo 1 12 101\r\n")


@pytest.mark.parametrize("raw", [
    b"MSG foo 1 2\r\nhiX\r\n", b"MSG foo 1 2\r\nhi\n\r", b"MSG foo 1 2\r\nhi\rX",
    b"MSG foo 1 2\r\nhello\r\n", b"MSG foo 1 5\r\nhi\r\n\r\nX",
])
def test_missing_crlf_after_payload(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="not followed by CRLF"):
        Parser().feed(raw)


def test_missing_crlf_after_payload_when_split() -> None:
    p = Parser()
    p.feed(b"MSG foo 1 2\r\nh")
    with pytest.raises(ProtocolError, match="not followed by CRLF"):
        p.feed(b"iXY")


def test_endless_line_raises() -> None:
    p = Parser(max_control_line=1024)
    with pytest.raises(ProtocolError, match="control line longer"):
        p.feed(b"x" * 1025)


def test_line_at_the_limit_is_fine() -> None:
    p = Parser(max_control_line=64)
    body = json.dumps({"k": "v" * 40}).encode()
    line = b"INFO " + body
    assert len(line) <= 64
    assert p.feed(line) == []
    assert p.feed(b"\r\n") == [(INFO, {"k": "v" * 40})]


def test_complete_line_longer_than_limit_raises() -> None:
    p = Parser(max_control_line=64)
    with pytest.raises(ProtocolError, match="control line longer"):
        p.feed(b"INFO " + json.dumps({"k": "v" * 100}).encode() + b"\r\n")


def test_endless_line_fed_one_byte_at_a_time() -> None:
    limit = 2048
    p = Parser(max_control_line=limit)
    with pytest.raises(ProtocolError, match="control line longer"):
        for i in range(limit * 2):
            p.feed(b"A")
            assert p.buffered <= limit, i
    assert i == limit  # raised on the first byte over the limit


def test_endless_line_default_limit() -> None:
    p = Parser()
    p.feed(b"INFO {" + b" " * (DEFAULT_MAX_CONTROL_LINE - 10))
    with pytest.raises(ProtocolError, match="control line longer"):
        p.feed(b" " * 64)


# --- large messages -----------------------------------------------------------------------


def test_large_payload_across_many_feeds() -> None:
    payload = bytes(range(256)) * 4000  # ~1 MB
    raw = b"MSG big 1 r %d\r\n%b\r\nPING\r\n" % (len(payload), payload)
    p = Parser()
    events: list[Any] = []
    for i in range(0, len(raw), 1000):
        events.extend(p.feed(raw[i:i + 1000]))
    assert events == [(MSG, 1, "big", "r", payload, None), (PING,)]
    assert p.buffered == 0


def test_ten_megabytes_in_4k_chunks_is_linear() -> None:
    size = 10 * 1024 * 1024
    payload = b"0123456789abcdef" * (size // 16)
    head = b"MSG big.subject 3 %d\r\n" % size
    raw = head + payload + b"\r\nMSG after 4 1\r\nz\r\n"
    chunk = 4096

    p = Parser()
    events: list[Any] = []
    started = time.perf_counter()
    for i in range(0, len(raw), chunk):
        before = p.buffered
        events.extend(p.feed(raw[i:i + chunk]))
        if not events:
            # While the payload arrives, everything received is kept, and the received
            # chunks are not glued to the buffer on every feed (that would be quadratic).
            assert p.buffered == before + len(raw[i:i + chunk])
            assert len(p._buf) <= len(head) + chunk
    elapsed = time.perf_counter() - started

    assert len(events) == 2
    assert events[0][:4] == (MSG, 3, "big.subject", "")
    assert events[0][4] == payload
    assert events[1] == (MSG, 4, "after", "", b"z", None)
    assert p.buffered == 0
    # Linear: ~10 ms. Re-joining the buffer on each of the 2560 feeds copies ~13 GB.
    assert elapsed < 3.0, f"10 MB in 4 KB chunks took {elapsed:.2f}s"


def test_large_hmsg_in_pieces() -> None:
    hdr = Headers({"Big": "x" * 3000}).encode()
    payload = b"\r\n" * 50000
    raw = hmsg("big", 1, hdr, payload)
    events = feed_pieces([raw[i:i + 777] for i in range(0, len(raw), 777)])
    assert len(events) == 1
    assert events[0][4] == payload and events[0][5]["big"] == "x" * 3000


# --- hypothesis: valid streams, any split ---------------------------------------------------

TOKEN = st.text(alphabet="abcxyzABC019-_$éü中", min_size=1, max_size=6)
SUBJECT = st.lists(TOKEN, min_size=1, max_size=4).map(".".join)
PAYLOAD = st.one_of(
    st.binary(max_size=200),
    st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b"MSG a 1 2\r\n", b"PING\r\n", b"x", b"\x00"]),
             max_size=8).map(b"".join),
)
HEADER_NAME = st.text(alphabet=st.characters(blacklist_characters=":\r\n \t",
                                             blacklist_categories=("Cs",)), min_size=1, max_size=8)
HEADER_VALUE = st.text(alphabet=st.characters(blacklist_characters="\r\n",
                                              blacklist_categories=("Cs",)),
                       max_size=12).map(lambda v: v.strip(" \t"))
DESCRIPTION = st.text(alphabet="abcdefghij XYZ", max_size=16).map(str.strip)


@st.composite
def header_blocks(draw: st.DrawFn) -> Headers:
    h = Headers()
    for name, value in draw(st.lists(st.tuples(HEADER_NAME, HEADER_VALUE), max_size=4)):
        h.add(name, value)
    if draw(st.booleans()):
        h.status = draw(st.integers(100, 999))
        h.description = draw(DESCRIPTION)
    return h


@st.composite
def server_events(draw: st.DrawFn) -> tuple[Any, bytes]:
    """One event and the bytes a server would send for it."""
    kind = draw(st.sampled_from(["msg", "msg", "msg", "hmsg", "ping", "pong", "ok", "err", "info"]))
    if kind in ("msg", "hmsg"):
        subject = draw(SUBJECT)
        sid = draw(st.integers(1, 2 ** 40))
        reply = draw(st.one_of(st.just(""), SUBJECT))
        payload = draw(PAYLOAD)
        rep = b" " + reply.encode() if reply else b""
        if kind == "msg":
            raw = b"MSG %b %d%b %d\r\n%b\r\n" % (subject.encode(), sid, rep, len(payload), payload)
            return (MSG, sid, subject, reply, payload, None), raw
        headers = draw(header_blocks())
        hdr = headers.encode()
        raw = b"HMSG %b %d%b %d %d\r\n%b%b\r\n" % (
            subject.encode(), sid, rep, len(hdr), len(hdr) + len(payload), hdr, payload)
        return (MSG, sid, subject, reply, payload, headers), raw
    if kind == "ping":
        return (PING,), b"PING\r\n"
    if kind == "pong":
        return (PONG,), b"PONG\r\n"
    if kind == "ok":
        return (OK,), b"+OK\r\n"
    if kind == "err":
        text = draw(st.text(alphabet="abc XYZ\"'", max_size=20).map(str.strip))
        return (ERR, text), b"-ERR '%b'\r\n" % text.encode()
    info = draw(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5),
                                                               st.booleans()), max_size=3))
    return (INFO, info), b"INFO " + json.dumps(info).encode() + b"\r\n"


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted(set(c % (len(data) + 1) for c in cuts))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@HYPO
@given(st.lists(server_events(), max_size=12), st.data())
def test_valid_stream_any_split(pairs: list[tuple[Any, bytes]], data: st.DataObject) -> None:
    expected = [ev for ev, _ in pairs]
    stream = b"".join(raw for _, raw in pairs)
    whole = feed_all(stream)
    assert whole == expected
    cuts = data.draw(st.lists(st.integers(0, max(len(stream), 1)), max_size=30), label="cuts")
    p = Parser()
    pieces = split_at(stream, cuts)
    assert b"".join(pieces) == stream
    got = feed_pieces(pieces, p)
    assert got == whole
    assert p.buffered == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(server_events(), min_size=1, max_size=6))
def test_valid_stream_byte_by_byte(pairs: list[tuple[Any, bytes]]) -> None:
    stream = b"".join(raw for _, raw in pairs)
    p = Parser()
    assert feed_pieces(bytewise(stream), p) == [ev for ev, _ in pairs]
    assert p.buffered == 0


# --- hypothesis: garbage ----------------------------------------------------------------------

SMALL_LINE = 256
SMALL_PAYLOAD = 1024
BOUND = SMALL_LINE + SMALL_PAYLOAD + 8


def feed_garbage(pieces: list[bytes]) -> None:
    """Feed until the end or a ProtocolError; anything else escaping fails the test."""
    p = Parser(max_control_line=SMALL_LINE, max_payload=SMALL_PAYLOAD)
    try:
        for piece in pieces:
            events = p.feed(piece)
            assert isinstance(events, list)
            for ev in events:
                assert isinstance(ev, tuple) and ev[0] in (MSG, INFO, PING, PONG, OK, ERR)
            assert p.buffered <= BOUND
    except ProtocolError:
        pass


@pytest.mark.timeout(60)
@HYPO
@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=20))
def test_random_bytes(data: bytes, cuts: list[int]) -> None:
    feed_garbage(split_at(data, cuts))


CONTROLISH = st.lists(st.sampled_from([
    b"MSG ", b"HMSG ", b"INFO ", b"PING", b"PONG", b"+OK", b"-ERR ", b"\r\n", b"\r", b"\n", b" ",
    b"\t", b"foo", b"1", b"0", b"12", b"-1", b"999999", b"{}", b"[", b"NATS/1.0", b"\xff", b":",
    b"503", b"\x00",
]), max_size=60).map(b"".join)


@pytest.mark.timeout(60)
@HYPO
@given(CONTROLISH, st.lists(st.integers(0, 500), max_size=10))
def test_protocol_like_garbage(data: bytes, cuts: list[int]) -> None:
    feed_garbage(split_at(data, cuts))


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(server_events(), min_size=1, max_size=6))
    data = bytearray(b"".join(raw for _, raw in pairs))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        i = draw(st.integers(0, len(data)))
        if kind == "insert" or not data:
            data[i:i] = bytes([draw(st.integers(0, 255))])
        elif kind == "delete":
            del data[min(i, len(data) - 1)]
        elif kind == "flip":
            j = min(i, len(data) - 1)
            data[j] ^= 1 << draw(st.integers(0, 7))
        else:
            j = min(i, len(data) - 1)
            data[j] = draw(st.sampled_from(b" \t\r\n0-9:\xff"))
    return bytes(data)


@pytest.mark.timeout(60)
@HYPO
@given(mutated_streams(), st.lists(st.integers(0, 5000), max_size=20))
def test_mutated_valid_streams(data: bytes, cuts: list[int]) -> None:
    feed_garbage(split_at(data, cuts))


def test_garbage_bound_is_meaningful() -> None:
    # A declared length just under max_payload keeps that much buffered, which the bound allows.
    p = Parser(max_control_line=SMALL_LINE, max_payload=SMALL_PAYLOAD)
    p.feed(b"MSG a 1 %d\r\n" % SMALL_PAYLOAD + b"x" * SMALL_PAYLOAD)
    assert SMALL_PAYLOAD < p.buffered <= BOUND
    p.feed(b"\r")
    assert p.buffered <= BOUND


# --- encoders -----------------------------------------------------------------------------


def test_encode_pub() -> None:
    assert encode_pub(b"foo", b"hello") == b"PUB foo 5\r\nhello\r\n"
    assert encode_pub(b"foo.bar", b"hello", b"_INBOX.1") == b"PUB foo.bar _INBOX.1 5\r\nhello\r\n"
    assert encode_pub(b"foo") == b"PUB foo 0\r\n\r\n"
    assert encode_pub(b"foo", b"", b"r") == b"PUB foo r 0\r\n\r\n"
    assert encode_pub(b"foo", b"a\r\nb") == b"PUB foo 4\r\na\r\nb\r\n"
    assert encode_pub("ü".encode(), b"x") == "PUB ü 1\r\nx\r\n".encode()


def test_encode_hpub() -> None:
    hdr = b"NATS/1.0\r\nk: v\r\n\r\n"
    assert len(hdr) == 18
    assert encode_pub(b"foo", b"hello", headers=hdr) == b"HPUB foo 18 23\r\n" + hdr + b"hello\r\n"
    assert encode_pub(b"foo", b"hello", b"r.1", hdr) == b"HPUB foo r.1 18 23\r\n" + hdr + b"hello\r\n"
    assert encode_pub(b"foo", b"", headers=hdr) == b"HPUB foo 18 18\r\n" + hdr + b"\r\n"


def test_encode_hpub_counts_bytes_not_characters() -> None:
    hdr = Headers({"Ünï": "cødé 中"}).encode()
    frame = encode_pub(b"s", "€".encode(), headers=hdr)
    line, rest = frame.split(b"\r\n", 1)
    _, _, hl, total = line.split(b" ")
    assert int(hl) == len(hdr) and int(total) == len(hdr) + 3
    assert rest == hdr + "€".encode() + b"\r\n"


def test_encode_sub() -> None:
    assert encode_sub("foo.*", 1) == b"SUB foo.* 1\r\n"
    assert encode_sub("foo.>", 42, "workers") == b"SUB foo.> workers 42\r\n"
    assert encode_sub("foo", 7, "") == b"SUB foo 7\r\n"


def test_encode_unsub() -> None:
    assert encode_unsub(1) == b"UNSUB 1\r\n"
    assert encode_unsub(12, 5) == b"UNSUB 12 5\r\n"
    assert encode_unsub(12, 0) == b"UNSUB 12\r\n"
    assert encode_unsub(12, -3) == b"UNSUB 12\r\n"


def test_encode_connect() -> None:
    opts = {"verbose": False, "pedantic": False, "name": "n", "lang": "python3",
            "version": "0.1.0", "protocol": 1, "headers": True, "no_responders": True}
    frame = encode_connect(opts)
    assert frame == (b'CONNECT {"verbose":false,"pedantic":false,"name":"n","lang":"python3",'
                     b'"version":"0.1.0","protocol":1,"headers":true,"no_responders":true}\r\n')


def test_encode_connect_escapes() -> None:
    opts = {"name": "a\r\nb \"q\" ü", "pass": "p\\w"}
    frame = encode_connect(opts)
    assert frame.startswith(b"CONNECT {") and frame.endswith(b"}\r\n")
    assert frame.count(b"\r\n") == 1  # the JSON itself never holds a raw CRLF
    assert json.loads(frame[len(b"CONNECT "):-2]) == opts


@HYPO
@given(SUBJECT, st.one_of(st.just(""), SUBJECT), st.binary(max_size=300),
       st.one_of(st.none(), header_blocks()))
def test_encode_pub_frames_are_self_describing(subject: str, reply: str, payload: bytes,
                                               headers: Optional[Headers]) -> None:
    hdr = headers.encode() if headers is not None else None
    frame = encode_pub(subject.encode(), payload, reply.encode(), hdr)
    op = b"HPUB" if hdr is not None else b"PUB"
    assert list(outbound_frames(frame)) == [(op, 0, len(frame))]
    # The same frame, relabelled as the server would deliver it, parses back to the message.
    line, body = frame.split(b"\r\n", 1)
    args = line.split(b" ")[1:]
    server_line = b" ".join([b"HMSG" if hdr is not None else b"MSG", args[0], b"9", *args[1:]])
    [ev] = feed_all(server_line + b"\r\n" + body)
    assert ev[:5] == (MSG, 9, subject, reply, payload)
    assert ev[5] == headers


# --- outbound frames ----------------------------------------------------------------------

HDR = b"NATS/1.0\r\nK: v\r\n\r\n"
FRAMES = [
    (b"CONNECT", encode_connect({"verbose": False, "name": "x"})),
    (b"PING", PING_FRAME),
    (b"SUB", encode_sub("foo.>", 1, "q")),
    (b"PUB", encode_pub(b"foo", b"PUB x 3\r\nabc\r\n", b"r")),
    (b"HPUB", encode_pub(b"bar", b"\r\n\r\n", headers=HDR)),
    (b"UNSUB", encode_unsub(1, 10)),
    (b"PUB", encode_pub(b"empty")),
    (b"PONG", PONG_FRAME),
    (b"HPUB", encode_pub(b"h", b"", b"rr", HDR)),
    (b"SUB", encode_sub("z", 2)),
    (b"UNSUB", encode_unsub(2)),
    (b"PUB", encode_pub(b"last", bytes(range(256)))),
]
BUFFER = b"".join(f for _, f in FRAMES)


def expected_frames() -> list[tuple[bytes, int, int]]:
    out = []
    pos = 0
    for op, frame in FRAMES:
        out.append((op, pos, pos + len(frame)))
        pos += len(frame)
    return out


def test_outbound_frames_mixed_buffer() -> None:
    assert list(outbound_frames(BUFFER)) == expected_frames()
    assert list(outbound_frames(b"")) == []


def test_outbound_frames_on_cut_buffers() -> None:
    full = expected_frames()
    for cut in range(len(BUFFER) + 1):
        got = list(outbound_frames(BUFFER[:cut]))
        complete = [f for f in full if f[2] <= cut]
        assert got[:len(complete)] == complete, cut
        rest = got[len(complete):]
        if any(start < cut < end for _, start, end in full):
            [(op, start, end)] = rest
            real = next(f for f in full if f[1] < cut < f[2])
            assert start == real[1], cut
            assert end > cut, cut
            assert real[0].startswith(op), cut
        else:
            assert rest == [], cut


def test_outbound_frames_of_payloads_that_look_like_frames() -> None:
    evil = encode_pub(b"a", b"SUB x 1\r\nUNSUB 1\r\nPING\r\n")
    data = encode_sub("x", 1) + evil + PING_FRAME
    assert [op for op, _, _ in outbound_frames(data)] == [b"SUB", b"PUB", b"PING"]
