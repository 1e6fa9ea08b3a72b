"""Pure unit tests of natsync.subjects: subject and queue validation, the publish cache."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from natsync import subjects
from natsync.errors import BadSubjectError, Error
from natsync.subjects import check_queue, check_subject, publish_subject

VALID_ANYWHERE = [
    "foo", "foo.bar", "foo.bar.baz", "a.b.c.d.e.f.g", "_INBOX.abc123.1", "$JS.API.INFO",
    "foo-bar_baz", "FOO.Bar", "süß.中文", "1.2.3", "foo*", "*foo", "foo.b*r", "foo>", ">foo",
    "foo.>bar", "a" * 1000, "x.y#z", "emoji.🙂",
]
WILDCARD_SUBJECTS = ["*", ">", "foo.*", "foo.>", "*.bar", "*.*.*", "foo.*.>", "*.>", "a.*.b"]
INVALID_ALWAYS = [
    "", ".", "..", "foo.", ".foo", "foo..bar", "foo bar", " foo", "foo ", "foo\tbar",
    "foo\r\nbar", "foo\n", "\rfoo", "foo\fbar", "foo\vbar", ">.foo", "foo.>.bar", "foo.>.*",
    "foo.*.", "*..>",
]


@pytest.mark.parametrize("subject", VALID_ANYWHERE)
def test_valid_for_publish_and_subscribe(subject: str) -> None:
    check_subject(subject)
    check_subject(subject, wildcards=True)


@pytest.mark.parametrize("subject", WILDCARD_SUBJECTS)
def test_wildcards_only_for_subscribe(subject: str) -> None:
    check_subject(subject, wildcards=True)
    with pytest.raises(BadSubjectError, match="wildcards"):
        check_subject(subject)


@pytest.mark.parametrize("subject", INVALID_ALWAYS)
def test_invalid_for_both(subject: str) -> None:
    with pytest.raises(BadSubjectError) as exc:
        check_subject(subject, wildcards=True)
    if subject:
        assert repr(subject) in str(exc.value)
    with pytest.raises(BadSubjectError):
        check_subject(subject)


@pytest.mark.parametrize("subject", [">.foo", "foo.>.bar", "a.>.>"])
def test_full_wildcard_must_be_last(subject: str) -> None:
    with pytest.raises(BadSubjectError, match="'>' must be the last token"):
        check_subject(subject, wildcards=True)


def test_messages_say_what_is_wrong() -> None:
    with pytest.raises(BadSubjectError, match="must not be empty"):
        check_subject("")
    with pytest.raises(BadSubjectError, match="whitespace"):
        check_subject("a b")
    with pytest.raises(BadSubjectError, match="empty token"):
        check_subject("a..b")
    with pytest.raises(BadSubjectError, match="^reply subject"):
        check_subject("a b", what="reply subject")


@pytest.mark.parametrize("value", [None, 1, b"foo", ["foo"], ("foo",)])
def test_non_str_subject(value: object) -> None:
    with pytest.raises(BadSubjectError, match=f"must be str, not {type(value).__name__}"):
        check_subject(value)  # type: ignore[arg-type]
    with pytest.raises(BadSubjectError):
        check_subject(value, wildcards=True)  # type: ignore[arg-type]


def test_bad_subject_error_is_a_value_error() -> None:
    assert issubclass(BadSubjectError, ValueError) and issubclass(BadSubjectError, Error)
    with pytest.raises(ValueError):
        check_subject("a b")


@pytest.mark.parametrize("queue", ["", "workers", "q.1", "*", ">", "a.b.c", "中"])
def test_valid_queues(queue: str) -> None:
    check_queue(queue)


@pytest.mark.parametrize("queue", [" ", "a b", "q\t", "\nq", "q\r", "a\fb", "a\vb"])
def test_queue_with_whitespace(queue: str) -> None:
    with pytest.raises(BadSubjectError, match="queue group") as exc:
        check_queue(queue)
    assert repr(queue) in str(exc.value)


@pytest.mark.parametrize("queue", [None, 1, b"q"])
def test_non_str_queue(queue: object) -> None:
    with pytest.raises(BadSubjectError, match=f"queue group must be str, not {type(queue).__name__}"):
        check_queue(queue)  # type: ignore[arg-type]


# --- publish cache ------------------------------------------------------------------------


def test_publish_subject_returns_encoded_bytes() -> None:
    assert publish_subject("foo.bar") == b"foo.bar"
    assert publish_subject("süß") == "süß".encode()
    assert isinstance(publish_subject("foo.bar"), bytes)


def test_publish_subject_is_cached() -> None:
    first = publish_subject("cache.me.once")
    assert publish_subject("cache.me.once") is first
    assert subjects.PUBLISH_SUBJECTS["cache.me.once"] is first


@pytest.mark.parametrize("subject", ["", "foo.*", "foo.>", "a b", "a..b", ">"])
def test_publish_subject_rejects_invalid_and_does_not_cache(subject: str) -> None:
    for _ in range(2):
        with pytest.raises(BadSubjectError):
            publish_subject(subject)
    assert subject not in subjects.PUBLISH_SUBJECTS


@pytest.mark.parametrize("value", [None, 1, b"foo"])
def test_publish_subject_non_str(value: object) -> None:
    with pytest.raises(BadSubjectError):
        publish_subject(value)  # type: ignore[arg-type]


def test_publish_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subjects, "PUBLISH_SUBJECTS", subjects.SubjectCache(limit=10))
    for i in range(35):
        assert publish_subject(f"bounded.{i}") == f"bounded.{i}".encode()
        assert len(subjects.PUBLISH_SUBJECTS) <= 10
    assert publish_subject("bounded.0") == b"bounded.0"


# --- hypothesis ---------------------------------------------------------------------------

TOKEN = st.text(alphabet=st.characters(blacklist_characters=" \t\r\n\f\v.",
                                       blacklist_categories=("Cs",)), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKEN, min_size=1, max_size=6))
def test_tokens_without_dots_or_whitespace_are_valid(tokens: list[str]) -> None:
    subject = ".".join(tokens)
    has_wildcard = any(t in ("*", ">") for t in tokens)
    misplaced = ">" in tokens[:-1]
    if misplaced:
        with pytest.raises(BadSubjectError):
            check_subject(subject, wildcards=True)
    else:
        check_subject(subject, wildcards=True)
    if has_wildcard:
        with pytest.raises(BadSubjectError):
            check_subject(subject)
    else:
        check_subject(subject)
        assert publish_subject(subject) == subject.encode()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20), st.booleans())
def test_check_subject_agrees_with_a_reference(subject: str, wildcards: bool) -> None:
    tokens = subject.split(".")
    ok = (bool(subject) and not any(c in " \t\r\n\f\v" for c in subject)
          and all(tokens)
          and (wildcards or not any(t in ("*", ">") for t in tokens))
          and ">" not in tokens[:-1])
    if ok:
        check_subject(subject, wildcards=wildcards)
    else:
        with pytest.raises(BadSubjectError):
            check_subject(subject, wildcards=wildcards)
