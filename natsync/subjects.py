"""Subject and queue-group validation, with a cache so publishing a known subject is cheap."""

from __future__ import annotations

from .errors import BadSubjectError

_WHITESPACE = frozenset(" \t\r\n\f\v")


def check_subject(subject: str, wildcards: bool = False, what: str = "subject") -> None:
    """Raise BadSubjectError unless `subject` is a valid subject (a subscription may use wildcards)."""
    if not isinstance(subject, str):
        raise BadSubjectError(f"{what} must be str, not {type(subject).__name__}")
    if not subject:
        raise BadSubjectError(f"{what} must not be empty")
    if not _WHITESPACE.isdisjoint(subject):
        raise BadSubjectError(f"{what} {subject!r} must not contain whitespace")
    tokens = subject.split(".")
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        if not token:
            raise BadSubjectError(f"{what} {subject!r} has an empty token")
        if token == ">" or token == "*":
            if not wildcards:
                raise BadSubjectError(f"{what} {subject!r} must not contain wildcards "
                                      "('*' and '>' are for subscriptions)")
            if token == ">" and i != last:
                raise BadSubjectError(f"{what} {subject!r}: '>' must be the last token")


def check_queue(queue: str) -> None:
    """Raise BadSubjectError unless `queue` is a valid queue group name (or empty)."""
    if not isinstance(queue, str):
        raise BadSubjectError(f"queue group must be str, not {type(queue).__name__}")
    if queue and not _WHITESPACE.isdisjoint(queue):
        raise BadSubjectError(f"queue group {queue!r} must not contain whitespace")


class SubjectCache(dict[str, bytes]):
    """Publish subjects already validated, to their wire bytes: `cache[subject]` is one
    C-level lookup for a known subject (the publish hot path), and validates and stores
    an unknown one (BadSubjectError if it is not a valid publish subject; TypeError if it
    is not even hashable). Emptied when it reaches `limit` entries, so memory is bounded
    whatever subjects are published."""

    def __init__(self, limit: int = 8192) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, subject: str) -> bytes:
        check_subject(subject)
        encoded = subject.encode()
        if len(self) >= self.limit:
            self.clear()
        self[subject] = encoded
        return encoded


#: The process-wide cache of publish subjects.
PUBLISH_SUBJECTS = SubjectCache()


def publish_subject(subject: str) -> bytes:
    """The wire bytes of a publish subject, validated once and then served from a cache."""
    try:
        return PUBLISH_SUBJECTS[subject]
    except TypeError:  # unhashable: not a str, which check_subject reports
        check_subject(subject)
        raise
