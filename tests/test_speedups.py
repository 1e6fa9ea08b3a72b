"""The compiled scan and frame encoder (natsync/_speedups.c) against the pure-Python code
they accelerate.

Both parsers get the same streams, valid and mutated, cut at the same points; after every
feed they must have returned the same events, or raised the same error with the same
text, and hold the same number of bytes. The Python parser is the reference; so is
protocol.encode_pub for the C encoder of PUB/HPUB frames.
`make test` also runs tests/test_protocol.py with NATSYNC_NO_SPEEDUPS=1, so the parser's
own tests cover both paths.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Optional, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from natsync import protocol
from natsync.protocol import Parser

from .test_protocol import server_events, split_at

# `make test` sets this: there the extension must have been built, not silently absent.
REQUIRED = os.environ.get("NATSYNC_REQUIRE_SPEEDUPS", "") not in ("", "0")

pytestmark = pytest.mark.skipif(
    not protocol.SPEEDUPS and not REQUIRED,
    reason="natsync._speedups is not built here (no C compiler) or NATSYNC_NO_SPEEDUPS is set")

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

Outcome = Union[list[Any], tuple[str, str]]

# Bytes that reach the parser's decisions: separators, line ends, signs and digits int()
# takes but the scan does not, bad UTF-8, operation names.
SPLICES = [b" ", b"  ", b"\t", b"\r", b"\n", b"\r\n", b"\x0b", b"\xff", b"\xc3", b"+", b"-",
           b"_", b"0", b"9", b"99999999999999999999", b"MSG ", b"HMSG ", b"msg ", b"PING\r\n",
           b"", b"x"]


def test_the_extension_is_there_when_required() -> None:
    if REQUIRED:
        assert protocol.SPEEDUPS, "NATSYNC_REQUIRE_SPEEDUPS is set but natsync._speedups " \
                                  "did not load"
    from natsync import _speedups
    assert _speedups.LINES_KEPT == protocol._LINES_KEPT


def test_the_environment_variable_turns_it_off() -> None:
    code = ("from natsync import protocol; print(protocol.SPEEDUPS, protocol.Parser()._scan, "
            "protocol.build_pub is protocol.encode_pub)")
    env = {**os.environ, "NATSYNC_NO_SPEEDUPS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "None", "True"]
    assert protocol.build_pub is not protocol.encode_pub


def run(pieces: list[bytes], speedups: bool, max_line: int, max_payload: int) -> list[Outcome]:
    """What each feed returned (or raised, ending the run), then the bytes held."""
    p = Parser(max_control_line=max_line, max_payload=max_payload, speedups=speedups)
    outcomes: list[Outcome] = []
    for piece in pieces:
        try:
            outcomes.append(p.feed(piece))
        except Exception as exc:  # the same exception, the same words
            outcomes.append((type(exc).__name__, str(exc)))
            return outcomes
    outcomes.append(("buffered", str(p.buffered)))
    return outcomes


def same(pieces: list[bytes], max_line: int = 4096, max_payload: int = 1 << 20) -> None:
    fast = run(pieces, True, max_line, max_payload)
    slow = run(pieces, False, max_line, max_payload)
    assert fast == slow


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid stream with a few bytes changed, inserted or removed."""
    stream = b"".join(raw for _, raw in draw(st.lists(server_events(), min_size=1,
                                                      max_size=8)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(stream)))
        how = draw(st.sampled_from(["splice", "replace", "cut", "byte"]))
        if how == "splice":
            stream = stream[:at] + draw(st.sampled_from(SPLICES)) + stream[at:]
        elif how == "replace":
            stream = stream[:at] + draw(st.sampled_from(SPLICES)) + stream[at + 1:]
        elif how == "cut":
            stream = stream[:at] + stream[at + draw(st.integers(1, 8)):]
        else:
            stream = stream[:at] + bytes([draw(st.integers(0, 255))]) + stream[at + 1:]
    return stream


@FUZZ
@given(st.lists(server_events(), max_size=12), st.data())
def test_valid_streams_give_the_same_events(pairs: list[tuple[Any, bytes]],
                                            data: st.DataObject) -> None:
    stream = b"".join(raw for _, raw in pairs)
    same([stream])
    cuts = data.draw(st.lists(st.integers(0, max(len(stream), 1)), max_size=20))
    same(split_at(stream, cuts))


@FUZZ
@given(mutated(), st.data())
def test_mutated_streams_give_the_same_events_and_errors(stream: bytes,
                                                         data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, max(len(stream), 1)), max_size=6))
    max_line = data.draw(st.sampled_from([8, 24, 64, 4096]))
    max_payload = data.draw(st.sampled_from([0, 3, 50, 1 << 20]))
    same([stream], max_line, max_payload)
    same(split_at(stream, cuts), max_line, max_payload)


@pytest.mark.parametrize("line", [
    b"MSG a 1 +3", b"MSG a +1 3", b"MSG a 1_0 3", b"MSG a 1 0_3", b"MSG a 1 -3",
    b"MSG \xff 1 3", b"MSG a 1 \xff 3", b"MSG a 1 b c 3", b"MSG a 1", b"MSG  a\t1 \x0b3",
    b"MSG a 1 3 ", b"MSG a 99999999999999999999 3", b"MSG a 1 99999999999999999999",
    b"HMSG a 1 0 3", b"HMSG a 1 4 3", b"HMSG a 1 +0 3", b"HMSG a 1 r 0 3", b"HMSG a 1 3",
    b"HMSG a 1 r x 0 3", b"MSG a 1 r 3", b"msg a 1 3", b"MSG\ta 1 3",
])
def test_irregular_lines_end_the_same_way(line: bytes) -> None:
    stream = line + b"\r\nabc\r\nPING\r\n" + b"MSG ok 2 1\r\nz\r\n"
    same([stream])
    same([stream[:len(line) + 3], stream[len(line) + 3:]])


def test_the_table_of_known_lines_fills_and_empties_the_same_way() -> None:
    stream = b"".join(b"MSG s.%d 1 1\r\nx\r\n" % i for i in range(2500))
    fast = Parser(speedups=True)
    slow = Parser(speedups=False)
    assert fast.feed(stream) == slow.feed(stream)
    assert fast._lines == slow._lines
    assert len(fast._lines) == 2500 - 2 * protocol._LINES_KEPT


# --- the frame encoder ----------------------------------------------------------------

# Sizes around every change in the number of decimal digits, and some others.
SIZES = st.one_of(st.sampled_from([0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 9999, 10000,
                                   65535, 65536, 99999, 100000]),
                  st.integers(0, 300))


@FUZZ
@given(st.binary(min_size=1, max_size=64), SIZES, st.binary(max_size=40),
       st.one_of(st.none(), SIZES), st.integers(2, 4))
def test_the_encoder_builds_the_frames_of_encode_pub(subject: bytes, size: int, reply: bytes,
                                                      headers_size: Optional[int],
                                                      nargs: int) -> None:
    from natsync._speedups import encode_pub
    payload = bytes(i % 251 for i in range(size))
    headers = None if headers_size is None else b"H" * headers_size
    args: tuple[Any, ...] = (subject, payload, reply, headers)[:nargs]
    assert encode_pub(*args) == protocol.encode_pub(*args)
    assert protocol.build_pub(*args) == protocol.encode_pub(*args)


def test_the_encoder_takes_bytes_subclasses_and_returns_plain_bytes() -> None:
    from natsync._speedups import encode_pub

    class Sub(bytes):
        pass

    frame = encode_pub(Sub(b"s"), Sub(b"pay"), Sub(b"r"), Sub(b"NATS/1.0\r\n\r\n"))
    assert type(frame) is bytes
    assert frame == protocol.encode_pub(b"s", b"pay", b"r", b"NATS/1.0\r\n\r\n")


@pytest.mark.parametrize("args", [
    (), (b"s",), (b"s", b"p", b"", None, b"x"), ("s", b"p"), (b"s", "p"), (b"s", bytearray(b"p")),
    (b"s", b"p", "r"), (b"s", b"p", None), (b"s", b"p", b"", "NATS/1.0"),
])
def test_the_encoder_refuses_what_is_not_bytes(args: tuple[Any, ...]) -> None:
    from natsync._speedups import encode_pub
    with pytest.raises(TypeError):
        encode_pub(*args)
