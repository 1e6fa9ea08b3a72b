"""Pure unit tests of natsync.headers: the Headers mapping, encoding and parsing."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from natsync.errors import BadHeaderError, Error, ProtocolError
from natsync.headers import Headers, encode_headers, parse_headers

HYPO = settings(max_examples=300, deadline=None)


def test_is_a_mutable_mapping() -> None:
    h = Headers()
    assert isinstance(h, MutableMapping) and isinstance(h, Mapping)
    assert len(h) == 0 and list(h) == [] and not h
    assert h.status is None and h.description == ""


def test_case_insensitive_get_keeps_given_case() -> None:
    h = Headers()
    h.add("Content-Type", "text/plain")
    assert h["content-type"] == "text/plain"
    assert h["CONTENT-TYPE"] == "text/plain"
    assert h.get("cOnTeNt-TyPe") == "text/plain"
    assert "content-TYPE" in h
    assert list(h) == ["Content-Type"]
    assert h.items_all() == [("Content-Type", "text/plain")]


def test_missing_key() -> None:
    h = Headers({"a": "1"})
    with pytest.raises(KeyError):
        h["b"]
    assert h.get("b") is None
    assert h.get("b", "dflt") == "dflt"
    assert "b" not in h


def test_order_and_multiple_values() -> None:
    h = Headers()
    h.add("B", "1")
    h.add("a", "2")
    h.add("b", "3")
    h.add("C", "4")
    h.add("A", "5")
    assert h["b"] == "1"  # the first value
    assert h["A"] == "2"
    assert h.get_all("B") == ["1", "3"]
    assert h.get_all("a") == ["2", "5"]
    assert h.get_all("missing") == []
    assert h.items_all() == [("B", "1"), ("a", "2"), ("b", "3"), ("C", "4"), ("A", "5")]
    # iteration and len count each name once, in first-seen order and case
    assert list(h) == ["B", "a", "C"]
    assert len(h) == 3
    assert list(h.keys()) == ["B", "a", "C"]
    assert list(h.items()) == [("B", "1"), ("a", "2"), ("C", "4")]
    assert list(h.values()) == ["1", "2", "4"]


def test_setitem_replaces_every_value() -> None:
    h = Headers()
    h.add("X", "1")
    h.add("Y", "keep")
    h.add("x", "2")
    h["X"] = "new"
    assert h.get_all("x") == ["new"]
    assert h.items_all() == [("Y", "keep"), ("X", "new")]
    h["y"] = "changed"
    assert h.items_all() == [("X", "new"), ("y", "changed")]
    assert list(h) == ["X", "y"]


def test_delitem_removes_every_value() -> None:
    h = Headers()
    h.add("X", "1")
    h.add("Y", "2")
    h.add("x", "3")
    del h["X"]
    assert h.items_all() == [("Y", "2")]
    assert "x" not in h
    with pytest.raises(KeyError):
        del h["x"]
    del h["y"]
    assert len(h) == 0


def test_mutable_mapping_helpers() -> None:
    h = Headers({"a": "1"})
    h.update({"b": "2"})
    assert h.setdefault("A", "zzz") == "1"
    assert h.setdefault("c", "3") == "3"
    assert h.pop("B") == "2"
    assert h.items_all() == [("a", "1"), ("c", "3")]
    h.clear()
    assert h.items_all() == [] and len(h) == 0


def test_init_from_mapping_with_lists() -> None:
    h = Headers({"A": "1", "B": ["2", "3"], "C": ("4",), "D": []})
    assert h.items_all() == [("A", "1"), ("B", "2"), ("B", "3"), ("C", "4")]
    assert len(h) == 3


def test_init_from_headers_copies() -> None:
    h = Headers({"A": ["1", "2"]})
    h.status = 503
    h.description = "No Responders"
    c = Headers(h)
    assert c == h and c is not h
    assert (c.status, c.description) == (503, "No Responders")
    c.add("A", "3")
    assert h.get_all("A") == ["1", "2"]


def test_equality() -> None:
    h = Headers({"A": "1", "B": "2"})
    assert h == {"A": "1", "B": "2"}
    assert {"A": "1", "B": "2"} == h
    assert h != {"A": "1"}
    assert h != {"A": "1", "B": "3"}
    assert h == Headers({"A": "1", "B": "2"})
    assert h != Headers({"B": "2", "A": "1"})  # Headers compare in order
    other = Headers({"A": "1", "B": "2"})
    other.status = 408
    assert h != other
    assert h != "A: 1"
    assert h != 1
    with pytest.raises(TypeError):
        hash(h)


def test_equality_with_dict_uses_first_values() -> None:
    h = Headers()
    h.add("A", "1")
    h.add("A", "2")
    assert h == {"A": "1"}


def test_repr() -> None:
    h = Headers({"A": "1"})
    assert repr(h) == "Headers([('A', '1')])"
    h.status = 503
    assert "status=503" in repr(h)


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a:b", "a b", "a\tb", "a\rb", "a\nb", ":", " ", "X-\r\n"])
def test_bad_names(name: str) -> None:
    for action in (lambda h: h.add(name, "v"), lambda h: h.__setitem__(name, "v"),
                   lambda h: Headers({name: "v"}), lambda h: encode_headers({name: "v"})):
        with pytest.raises(BadHeaderError) as exc:
            action(Headers())
        assert repr(name) in str(exc.value)


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "\r\n", "x\r\nInjected: yes", "\n"])
def test_bad_values(value: str) -> None:
    for action in (lambda h: h.add("Name", value), lambda h: h.__setitem__("Name", value),
                   lambda h: Headers({"Name": value}), lambda h: Headers({"Name": ["ok", value]}),
                   lambda h: encode_headers({"Name": value})):
        with pytest.raises(BadHeaderError) as exc:
            action(Headers())
        assert "'Name'" in str(exc.value) and repr(value) in str(exc.value)


@pytest.mark.parametrize("name", [None, 1, b"X", ("X",)])
def test_non_str_names(name: object) -> None:
    with pytest.raises(BadHeaderError, match=type(name).__name__):
        Headers().add(name, "v")  # type: ignore[arg-type]
    with pytest.raises(BadHeaderError):
        Headers().__setitem__(name, "v")  # type: ignore[index]


@pytest.mark.parametrize("value", [None, 1, 1.5, b"v", bytearray(b"v"), object()])
def test_non_str_values(value: object) -> None:
    with pytest.raises(BadHeaderError, match=f"'Name'.*{type(value).__name__}"):
        Headers().add("Name", value)  # type: ignore[arg-type]
    with pytest.raises(BadHeaderError, match=type(value).__name__):
        Headers({"Name": value})  # type: ignore[dict-item]
    with pytest.raises(BadHeaderError, match=type(value).__name__):
        Headers({"Name": [value]})  # type: ignore[list-item]


def test_bad_header_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Headers().add("a:b", "v")
    assert issubclass(BadHeaderError, Error)


def test_failed_validation_leaves_headers_unchanged() -> None:
    h = Headers({"A": "1"})
    with pytest.raises(BadHeaderError):
        h["A"] = "bad\r\n"
    with pytest.raises(BadHeaderError):
        h.add("A", "bad\n")
    assert h.items_all() == [("A", "1")]


@pytest.mark.parametrize("name, value", [
    ("X-Unicode-Ünï", "中文 value"), ("a", ""), ("Nats-Msg-Id", "  inner  spaces "),
    ("!#$%&'*+-.^_`|~", "v:with:colons"), ("k", "\ttab-inside\t"),
])
def test_good_names_and_values(name: str, value: str) -> None:
    h = Headers()
    h.add(name, value)
    assert h[name] == value


# --- encoding -----------------------------------------------------------------------------


def test_encode_empty() -> None:
    assert Headers().encode() == b"NATS/1.0\r\n\r\n"
    assert encode_headers({}) == b"NATS/1.0\r\n\r\n"


def test_encode() -> None:
    h = Headers()
    h.add("B", "1")
    h.add("a", "x y")
    h.add("b", "2")
    assert h.encode() == b"NATS/1.0\r\nB: 1\r\na: x y\r\nb: 2\r\n\r\n"
    assert encode_headers(h) == h.encode()


def test_encode_mapping() -> None:
    assert encode_headers({"K": "v", "M": ["1", "2"]}) == \
        b"NATS/1.0\r\nK: v\r\nM: 1\r\nM: 2\r\n\r\n"


def test_encode_utf8() -> None:
    assert encode_headers({"Ü": "中"}) == "NATS/1.0\r\nÜ: 中\r\n\r\n".encode()


def test_encode_status() -> None:
    h = Headers()
    h.status = 503
    assert h.encode() == b"NATS/1.0 503\r\n\r\n"
    h.description = "No Responders"
    assert h.encode() == b"NATS/1.0 503 No Responders\r\n\r\n"
    h.add("K", "v")
    assert h.encode() == b"NATS/1.0 503 No Responders\r\nK: v\r\n\r\n"


def test_encode_description_without_status_is_not_sent() -> None:
    h = Headers()
    h.description = "ignored"
    assert h.encode() == b"NATS/1.0\r\n\r\n"


# --- parsing ------------------------------------------------------------------------------


def test_parse_simple() -> None:
    h = parse_headers(b"NATS/1.0\r\nA: 1\r\nb: 2\r\na: 3\r\n\r\n")
    assert h.items_all() == [("A", "1"), ("b", "2"), ("a", "3")]
    assert h.get_all("a") == ["1", "3"]
    assert h.status is None and h.description == ""


def test_parse_empty_block() -> None:
    h = parse_headers(b"NATS/1.0\r\n\r\n")
    assert len(h) == 0 and h.status is None


@pytest.mark.parametrize("block, status, description", [
    (b"NATS/1.0 503\r\n\r\n", 503, ""),
    (b"NATS/1.0 503 No Responders\r\n\r\n", 503, "No Responders"),
    (b"NATS/1.0 408 Request Timeout\r\n\r\n", 408, "Request Timeout"),
    (b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\n\r\n", 100, "Idle Heartbeat"),
    (b"NATS/1.0 100 FlowControl Request\r\n\r\n", 100, "FlowControl Request"),
    (b"NATS/1.0   409    Consumer Deleted  \r\n\r\n", 409, "Consumer Deleted"),
    (b"NATS/1.0 404\r\n\r\n", 404, ""),
])
def test_parse_status(block: bytes, status: int, description: str) -> None:
    h = parse_headers(block)
    assert (h.status, h.description) == (status, description)


def test_parse_status_with_headers() -> None:
    h = parse_headers(b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\n"
                      b"Nats-Last-Stream: 9\r\n\r\n")
    assert h.status == 100
    assert h["nats-last-consumer"] == "5" and h["NATS-LAST-STREAM"] == "9"
    assert len(h) == 2


def test_parse_trims_only_spaces_and_tabs() -> None:
    h = parse_headers("NATS/1.0\r\n A \t:\t  v 1 \r\nB:\xa0x\x1f\r\n\r\n".encode())
    assert h.items_all() == [("A", "v 1"), ("B", "\xa0x\x1f")]


def test_parse_value_with_colon() -> None:
    assert parse_headers(b"NATS/1.0\r\nUrl: nats://h:4222\r\n\r\n")["url"] == "nats://h:4222"


def test_parse_tolerates_missing_final_crlf() -> None:
    assert parse_headers(b"NATS/1.0\r\nA: 1\r\n").items_all() == [("A", "1")]


@pytest.mark.parametrize("block", [
    b"", b"NATS/1.1\r\n\r\n", b"nats/1.0\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n",
    b"NATS/1.0 abc\r\n\r\n", b"NATS/1.0 5x3\r\n\r\n", "NATS/1.0 ²\r\n\r\n".encode(),
    "NATS/1.0 \u0661\u0662\r\n\r\n".encode(), b"NATS/1.0\r\nno-colon\r\n\r\n",
    b"NATS/1.0\r\n: v\r\n\r\n", b"NATS/1.0\r\nA: \xff\r\n\r\n", b"NATS/1.0 \xff\r\n\r\n",
])
def test_parse_errors(block: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_headers(block)


# --- round trips (hypothesis) -------------------------------------------------------------

NAME = st.text(alphabet=st.characters(blacklist_characters=":\r\n \t",
                                      blacklist_categories=("Cs",)), min_size=1, max_size=10)
VALUE = st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
                max_size=20)
DESCRIPTION = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e) | st.just(" "),
                      max_size=20).map(str.strip)


@HYPO
@given(st.lists(st.tuples(NAME, VALUE), max_size=8),
       st.one_of(st.none(), st.integers(0, 99999)), DESCRIPTION)
def test_encode_parse_round_trip(pairs: list[tuple[str, str]], status: int | None,
                                 description: str) -> None:
    h = Headers()
    for name, value in pairs:
        h.add(name, value)
    h.status = status
    h.description = description if status is not None else ""
    parsed = parse_headers(h.encode())
    # Surrounding spaces and tabs of a value are not significant on the wire.
    assert parsed.items_all() == [(k, v.strip(" \t")) for k, v in pairs]
    assert parsed.status == status
    assert parsed.description == h.description
    # And the parsed headers encode to the same bytes when values had no such padding.
    if all(v == v.strip(" \t") for _, v in pairs):
        assert parsed == h
        assert parsed.encode() == h.encode()


ASCII_NAME = st.text(alphabet="abcXYZ-_!#019", min_size=1, max_size=6)


@HYPO
@given(st.dictionaries(ASCII_NAME, st.one_of(VALUE, st.lists(VALUE, min_size=1, max_size=3)),
                       max_size=6))
def test_mapping_semantics_match_a_reference(d: dict[str, str | list[str]]) -> None:
    h = Headers(d)
    reference: dict[str, list[str]] = {}
    first_case: dict[str, str] = {}
    for k, v in d.items():
        values = [v] if isinstance(v, str) else v
        reference.setdefault(k.lower(), []).extend(values)
        first_case.setdefault(k.lower(), k)
    assert len(h) == len(reference)
    assert list(h) == list(first_case.values())
    for low, values in reference.items():
        assert h.get_all(low.upper()) == values
        assert h[low] == values[0]


@HYPO
@given(st.binary(max_size=200))
def test_parse_random_bytes_only_raises_protocol_error(data: bytes) -> None:
    for block in (data, b"NATS/1.0" + data, b"NATS/1.0\r\n" + data):
        try:
            h = parse_headers(block)
        except ProtocolError:
            continue
        assert isinstance(h, Headers)
