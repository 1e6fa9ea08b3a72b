"""Message frames: PUB/HPUB built with protocol's encoders and checked against the
server's max_payload, then handed to the writer."""

from __future__ import annotations

from typing import Optional

from ..args import payload_bytes
from ..errors import MaxPayloadError
from ..headers import HeadersLike, encode_headers
from ..protocol import build_pub
from ..subjects import publish_subject
from .fork import ForkGuard
from .session import DEFAULT_MAX_PAYLOAD
from .writer import Writer


class Sender:
    """Frames messages for one client; knows the current server's max_payload."""

    def __init__(self, writer: Writer, guard: ForkGuard) -> None:
        self._writer = writer
        self._guard = guard
        #: The largest payload (headers included) the server accepts; the lifecycle sets
        #: it from each session's INFO.
        self.max_payload = DEFAULT_MAX_PAYLOAD

    def frame(self, subj: bytes, reply: bytes, payload: bytes,
              headers: Optional[HeadersLike]) -> bytes:
        """A PUB or HPUB frame; MaxPayloadError if the server would refuse it."""
        limit = self.max_payload
        if headers is None:
            if len(payload) > limit:
                raise MaxPayloadError(f"nats: payload of {len(payload)} bytes exceeds the "
                                      f"server's max_payload of {limit}")
            return build_pub(subj, payload, reply)
        hdr = encode_headers(headers)
        if len(hdr) + len(payload) > limit:
            raise MaxPayloadError(f"nats: message of {len(hdr) + len(payload)} bytes (headers "
                                  f"included) exceeds the server's max_payload of {limit}")
        return build_pub(subj, payload, reply, hdr)

    def publish(self, subj: bytes, payload: bytes, reply: bytes,
                headers: Optional[HeadersLike], now: bool = False,
                deadline: Optional[float] = None) -> None:
        """Queue a message for the flusher, or with `now` write it on this thread when
        nobody else is writing; wait for room until `deadline` at most (see Writer.publish)."""
        self._writer.publish(self.frame(subj, reply, payload, headers), len(payload), now,
                             deadline=deadline)

    def post(self, subj: bytes, payload: bytes, reply: bytes,
             headers: Optional[HeadersLike]) -> None:
        """Queue a fire-and-forget message (Client.publish's), which the flusher may hold
        for a moment to send with the next ones (see Writer.post)."""
        self._writer.post(self.frame(subj, reply, payload, headers), len(payload))

    def respond(self, reply: str, payload: bytes, headers: Optional[HeadersLike]) -> None:
        """Publish a reply, written at once on this thread when nobody else is writing
        (a replier waits for no flusher; see Writer.publish)."""
        if self._guard.forked:
            self._guard.check()
        if type(payload) is not bytes:
            payload = payload_bytes(payload)
        self._writer.publish(self.frame(publish_subject(reply), b"", payload, headers),
                             len(payload), now=True)
