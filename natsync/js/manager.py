"""JetStream management: streams, consumers, messages and account info over `$JS.API`."""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

from ..errors import BadArgumentError, NoRespondersError
from ..errors import TimeoutError as NatsTimeoutError
from . import api
from .direct import batch_request, direct_batch, multi_last_request
from .errors import (
    APIError,
    MsgNotFoundError,
    NoStreamResponseError,
    NotFoundError,
    ServiceUnavailableError,
)
from .features import ACK_FLOW_CONTROL, REQUIRED_API_LEVEL_HEADER, require
from .priority import priority_request

if TYPE_CHECKING:
    from ..client import Client

DEFAULT_PREFIX = "$JS.API"


def api_prefix(prefix: str, domain: Optional[str]) -> str:
    """The API subject prefix for an optional JetStream domain."""
    if domain:
        return f"$JS.{domain}.API"
    return prefix.rstrip(".")


def _config(cls: Any, config: Any, params: dict[str, Any]) -> Any:
    """A config object from an instance or keyword fields (or both: keywords win)."""
    if config is None:
        return cls(**params)
    if isinstance(config, dict):
        return cls(**{**config, **params})
    return config.evolve(**params) if params else config


def consumer_config(config: Any, params: dict[str, Any]) -> api.ConsumerConfig:
    """A consumer config whose unset `ack_policy` is explicit, as nats-py, nats.go and the
    clients' subscribe calls default it (the server's own default for a missing field is none)."""
    cfg: api.ConsumerConfig = _config(api.ConsumerConfig, config, params)
    if cfg.ack_policy is None:
        cfg = cfg.evolve(ack_policy=api.AckPolicy.EXPLICIT)
    return cfg


class JetStreamManager:
    """Management calls; every method blocks until the server answers or `timeout` passes."""

    def __init__(self, nc: Client, prefix: str = DEFAULT_PREFIX, domain: Optional[str] = None,
                 timeout: float = 5.0, required_api_level: Optional[int] = None) -> None:
        self._nc = nc
        self._prefix = api_prefix(prefix, domain)
        self._domain = domain
        self._timeout = timeout
        self._api_headers = api_level_headers(required_api_level)

    @property
    def prefix(self) -> str:
        """The `$JS.API` (or domain) prefix in use."""
        return self._prefix

    @property
    def nc(self) -> Client:
        """The client its requests go through (what consumers and buckets built on it use)."""
        return self._nc

    def _request(self, subject: str, payload: Optional[dict[str, Any]] = None,
                 timeout: Optional[float] = None, what: str = "") -> dict[str, Any]:
        """One API request: JSON in, JSON out, the JSON error mapped to an APIError."""
        data = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""
        try:
            msg = self._nc.request(f"{self._prefix}.{subject}", data,
                                   timeout=self._timeout if timeout is None else timeout,
                                   headers=self._api_headers)
        except NoRespondersError:
            raise ServiceUnavailableError(
                description="JetStream not available (no responders on "
                            f"{self._prefix}.{subject}); is JetStream enabled?") from None
        except NatsTimeoutError:
            raise NoStreamResponseError(
                f"nats: no response from JetStream to {self._prefix}.{subject}") from None
        try:
            resp: dict[str, Any] = json.loads(msg.data)
        except ValueError:
            raise APIError(description=f"invalid JSON from JetStream: {msg.data[:80]!r}") from None
        err = resp.get("error")
        if err:
            raise APIError.from_error(err, what)
        return resp

    def _paged(self, subject: str, key: str, payload: Optional[dict[str, Any]] = None
               ) -> Iterator[Any]:
        """Items of a paged list response, following `offset`/`total` to the end."""
        offset = 0
        while True:
            resp = self._request(subject, {**(payload or {}), "offset": offset})
            items = resp.get(key) or []
            yield from items
            offset += len(items)
            if not items or offset >= int(resp.get("total", 0)):
                return

    # --- account ----------------------------------------------------------------------------

    def account_info(self) -> api.AccountInfo:
        """Usage and limits of this account's JetStream."""
        return api.AccountInfo.from_response(self._request("INFO"))

    def api_level(self) -> int:
        """The server's JetStream API level (ADR-44): 0 before 2.11, 1 for 2.11, 2 for 2.12..."""
        return self.account_info().api.level or 0

    # --- streams ----------------------------------------------------------------------------

    def add_stream(self, config: Optional[api.StreamConfig] = None, **params: Any) -> api.StreamInfo:
        """Create a stream (`StreamConfig` or its fields as keywords)."""
        cfg = _config(api.StreamConfig, config, params)
        if not cfg.name:
            raise BadArgumentError("stream name is required")
        _check_name(cfg.name, "stream")
        resp = self._request(f"STREAM.CREATE.{cfg.name}", cfg.as_dict(), what=f"stream {cfg.name!r}")
        return api.StreamInfo.from_response(resp)

    def update_stream(self, config: Optional[api.StreamConfig] = None, **params: Any) -> api.StreamInfo:
        """Change a stream's configuration."""
        cfg = _config(api.StreamConfig, config, params)
        if not cfg.name:
            raise BadArgumentError("stream name is required")
        resp = self._request(f"STREAM.UPDATE.{cfg.name}", cfg.as_dict(), what=f"stream {cfg.name!r}")
        return api.StreamInfo.from_response(resp)

    def delete_stream(self, name: str) -> bool:
        """Delete a stream and all its messages."""
        _check_name(name, "stream")
        resp = self._request(f"STREAM.DELETE.{name}", what=f"stream {name!r}")
        return bool(resp.get("success"))

    def stream_info(self, name: str, subjects_filter: Optional[str] = None,
                    deleted_details: bool = False) -> api.StreamInfo:
        """A stream's configuration and state; with `subjects_filter`, also per-subject counts;
        with `deleted_details`, the sequences of deleted messages in `state.deleted`."""
        _check_name(name, "stream")
        details = {"deleted_details": True} if deleted_details else {}
        if subjects_filter is None:
            return api.StreamInfo.from_response(
                self._request(f"STREAM.INFO.{name}", details or None, what=f"stream {name!r}"))
        subjects: dict[str, int] = {}
        offset = 0
        while True:
            resp = self._request(f"STREAM.INFO.{name}",
                                 {"subjects_filter": subjects_filter, "offset": offset, **details},
                                 what=f"stream {name!r}")
            page = (resp.get("state") or {}).get("subjects") or {}
            subjects.update(page)
            offset += len(page)
            if not page or offset >= int(resp.get("total", 0)):
                break
        resp.setdefault("state", {})["subjects"] = subjects
        return api.StreamInfo.from_response(resp)

    def streams_info(self, subject: Optional[str] = None) -> list[api.StreamInfo]:
        """Every stream (optionally only those listening on `subject`), all pages."""
        payload = {"subject": subject} if subject else None
        return [api.StreamInfo.from_response(s) for s in self._paged("STREAM.LIST", "streams", payload)]

    def stream_names(self, subject: Optional[str] = None) -> list[str]:
        """Every stream name (optionally only those listening on `subject`), all pages."""
        payload = {"subject": subject} if subject else None
        return list(self._paged("STREAM.NAMES", "streams", payload))

    def find_stream_name_by_subject(self, subject: str) -> str:
        """The stream that stores `subject`; NotFoundError if none does."""
        names = self.stream_names(subject)
        if not names:
            raise NotFoundError(description=f"no stream matches subject {subject!r}")
        return names[0]

    def purge_stream(self, name: str, seq: Optional[int] = None, subject: Optional[str] = None,
                     keep: Optional[int] = None) -> bool:
        """Remove messages: all, those of `subject`, below `seq`, or all but the last `keep`."""
        payload: dict[str, Any] = {}
        if seq is not None:
            payload["seq"] = seq
        if subject is not None:
            payload["filter"] = subject
        if keep is not None:
            payload["keep"] = keep
        resp = self._request(f"STREAM.PURGE.{name}", payload or None, what=f"stream {name!r}")
        return bool(resp.get("success"))

    # --- messages ---------------------------------------------------------------------------

    def get_msg(self, stream_name: str, seq: Optional[int] = None, subject: Optional[str] = None,
                direct: bool = False, next: bool = False) -> api.RawStreamMsg:
        """A stored message by sequence, the last of `subject`, or (`next`) the first of
        `subject` at or after `seq`. `direct` uses Direct Get (ADR-31)."""
        req: dict[str, Any] = {}
        if next:
            if subject is None:
                raise BadArgumentError("next=True needs a subject")
            req = {"seq": seq or 1, "next_by_subj": subject}
        elif seq is not None:
            req = {"seq": seq}
            if subject is not None:
                req["next_by_subj"] = subject
        elif subject is not None:
            req = {"last_by_subj": subject}
        else:
            raise BadArgumentError("get_msg needs seq or subject")
        if direct:
            return self._direct_get(stream_name, req)
        resp = self._request(f"STREAM.MSG.GET.{stream_name}", req,
                             what=f"message {_describe(req)} in stream {stream_name!r}")
        return api.RawStreamMsg.from_response(resp["message"])

    def get_last_msg(self, stream_name: str, subject: str, direct: bool = False) -> api.RawStreamMsg:
        """The newest message of `subject` in the stream."""
        return self.get_msg(stream_name, subject=subject, direct=direct)

    def _direct_get(self, stream_name: str, req: dict[str, Any]) -> api.RawStreamMsg:
        subject = f"{self._prefix}.DIRECT.GET.{stream_name}"
        try:
            msg = self._nc.request(subject, json.dumps(req).encode(), timeout=self._timeout,
                                   headers=self._api_headers)
        except NoRespondersError:
            raise ServiceUnavailableError(
                description=f"direct get not available for stream {stream_name!r} "
                            "(allow_direct off?)") from None
        except NatsTimeoutError:
            raise NoStreamResponseError(f"nats: no response to direct get on {stream_name!r}") from None
        h = msg.headers
        if h is not None and h.status is not None:
            if h.status == 404:
                raise MsgNotFoundError(code=404, err_code=10037,
                                       description=f"no message found: {_describe(req)} in "
                                                   f"stream {stream_name!r}")
            raise APIError(code=h.status, description=h.description or "direct get failed")
        if h is None or "Nats-Sequence" not in h:
            raise APIError(description="direct get reply without Nats-Sequence header")
        return api.RawStreamMsg.from_direct(h, msg.data)

    def delete_msg(self, stream_name: str, seq: int, no_erase: bool = False) -> bool:
        """Delete one message. Its stored bytes are overwritten unless `no_erase`, which
        only marks it deleted (quicker; the data stays on disk until compacted)."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise BadArgumentError(f"seq must be a positive int, got {seq!r}")
        req: dict[str, Any] = {"seq": seq, "no_erase": True} if no_erase else {"seq": seq}
        resp = self._request(f"STREAM.MSG.DELETE.{stream_name}", req,
                             what=f"message {seq} in stream {stream_name!r}")
        return bool(resp.get("success"))

    # --- consumers --------------------------------------------------------------------------

    def add_consumer(self, stream: str, config: Optional[api.ConsumerConfig] = None,
                     timeout: Optional[float] = None, **params: Any) -> api.ConsumerInfo:
        """Create (or update, if identical) a consumer on `stream` (ADR-37 subjects).

        An unset `ack_policy` is sent as explicit; pass `ack_policy="none"` for none.
        """
        cfg = self._checked(consumer_config(config, params))
        _check_name(stream, "stream")
        name = cfg.name or cfg.durable_name
        if name:
            _check_name(name, "consumer")
            subject = f"CONSUMER.CREATE.{stream}.{name}"
            filt = cfg.filter_subject
            if filt and not cfg.filter_subjects and not ({"*", ">"} & set(filt.split("."))):
                subject += f".{filt}"  # lets account permissions name the filter (ADR-37)
        else:
            subject = f"CONSUMER.CREATE.{stream}"
        resp = self._request(subject, {"stream_name": stream, "config": cfg.as_dict()},
                             timeout=timeout, what=f"stream {stream!r}")
        return api.ConsumerInfo.from_response(resp)

    def update_consumer(self, stream: str, config: Optional[api.ConsumerConfig] = None,
                        **params: Any) -> api.ConsumerInfo:
        """Change a consumer's configuration (it must exist); an unset `ack_policy` is explicit,
        since the server refuses to change a consumer's ack policy."""
        cfg = self._checked(consumer_config(config, params))
        name = cfg.name or cfg.durable_name
        if not name:
            raise BadArgumentError("update_consumer needs the consumer's name or durable_name")
        resp = self._request(f"CONSUMER.CREATE.{stream}.{name}",
                             {"stream_name": stream, "config": cfg.as_dict(), "action": "update"},
                             what=f"consumer {name!r} on stream {stream!r}")
        return api.ConsumerInfo.from_response(resp)

    def _checked(self, cfg: api.ConsumerConfig) -> api.ConsumerConfig:
        """Refuse, before sending, a consumer config the connected server cannot honour."""
        if cfg.ack_policy == api.AckPolicy.FLOW_CONTROL:
            require(self._nc, ACK_FLOW_CONTROL)
        return cfg

    def consumer_info(self, stream: str, consumer: str, timeout: Optional[float] = None
                      ) -> api.ConsumerInfo:
        """A consumer's configuration and delivery state."""
        _check_name(stream, "stream")
        _check_name(consumer, "consumer")
        resp = self._request(f"CONSUMER.INFO.{stream}.{consumer}", timeout=timeout,
                             what=f"consumer {consumer!r} on stream {stream!r}")
        return api.ConsumerInfo.from_response(resp)

    def consumers_info(self, stream: str) -> list[api.ConsumerInfo]:
        """Every consumer of a stream, all pages."""
        return [api.ConsumerInfo.from_response(c)
                for c in self._paged(f"CONSUMER.LIST.{stream}", "consumers")]

    def consumer_names(self, stream: str) -> list[str]:
        """Every consumer name of a stream, all pages."""
        return list(self._paged(f"CONSUMER.NAMES.{stream}", "consumers"))

    def delete_consumer(self, stream: str, consumer: str) -> bool:
        """Delete a consumer."""
        resp = self._request(f"CONSUMER.DELETE.{stream}.{consumer}",
                             what=f"consumer {consumer!r} on stream {stream!r}")
        return bool(resp.get("success"))

    def pause_consumer(self, stream: str, consumer: str, pause_until: _dt.datetime
                       ) -> api.ConsumerPauseInfo:
        """Stop deliveries until `pause_until` (an aware datetime)."""
        if pause_until.tzinfo is None:
            raise BadArgumentError("pause_until must be timezone-aware")
        resp = self._request(f"CONSUMER.PAUSE.{stream}.{consumer}",
                             {"pause_until": api.format_time(pause_until)},
                             what=f"consumer {consumer!r} on stream {stream!r}")
        return api.ConsumerPauseInfo.from_response(resp)

    def resume_consumer(self, stream: str, consumer: str) -> api.ConsumerPauseInfo:
        """Resume a paused consumer."""
        resp = self._request(f"CONSUMER.PAUSE.{stream}.{consumer}", {},
                             what=f"consumer {consumer!r} on stream {stream!r}")
        return api.ConsumerPauseInfo.from_response(resp)

    # --- issue 14 (consumer half): priority groups, consumer reset, batch direct get --------

    def unpin_consumer(self, stream: str, consumer: str, group: str) -> bool:
        """Release the pinned puller of a pinned_client consumer's `group` (ADR-42).

        True once the server did; its refusals (an unknown group: BadRequestError) raise.
        """
        _check_name(stream, "stream")
        _check_name(consumer, "consumer")
        priority_request(group)
        self._request(f"CONSUMER.UNPIN.{stream}.{consumer}", {"group": group},
                      what=f"group {group!r} of consumer {consumer!r} on stream {stream!r}")
        return True

    def reset_consumer(self, stream: str, consumer: str, seq: Optional[int] = None
                       ) -> api.ConsumerResetInfo:
        """Move a consumer back (or on) to deliver from `seq`; without it, from its ack floor.

        nats-server 2.14+. The answer is the consumer's info with `reset_seq`.
        """
        _check_name(stream, "stream")
        _check_name(consumer, "consumer")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 1):
            raise BadArgumentError(f"seq must be a positive int, got {seq!r}")
        # The consumer itself answers RESET, so a missing one would only time out: ask first.
        self.consumer_info(stream, consumer)  # Stream/ConsumerNotFoundError naming it
        resp = self._request(f"CONSUMER.RESET.{stream}.{consumer}",
                             {"seq": seq} if seq is not None else None,
                             what=f"consumer {consumer!r} on stream {stream!r}")
        return api.ConsumerResetInfo.from_response(resp)

    def get_batch(self, stream: str, subject: Optional[str] = None, batch: int = 100,
                  max_bytes: Optional[int] = None, start_seq: Optional[int] = None,
                  start_time: Optional[_dt.datetime] = None,
                  timeout: Optional[float] = None) -> Iterator[api.RawStreamMsg]:
        """Up to `batch` stored messages (of `subject`, if given) from `start_seq` or
        `start_time`, read as they stream in (batch Direct Get, ADR-31; allow_direct)."""
        _check_name(stream, "stream")
        req = batch_request(batch, subject, max_bytes, start_seq, start_time)
        return direct_batch(self._nc, self._prefix, stream, req,
                            self._timeout if timeout is None else timeout)

    def get_last_for_subjects(self, stream: str, subjects: Sequence[str],
                              up_to_seq: Optional[int] = None,
                              up_to_time: Optional[_dt.datetime] = None,
                              batch: Optional[int] = None,
                              timeout: Optional[float] = None) -> Iterator[api.RawStreamMsg]:
        """The newest stored message of every subject matching `subjects` (wildcards
        allowed), as of `up_to_seq`/`up_to_time` (multi-last Direct Get, ADR-31)."""
        _check_name(stream, "stream")
        req = multi_last_request(subjects, up_to_seq, up_to_time, batch)
        return direct_batch(self._nc, self._prefix, stream, req,
                            self._timeout if timeout is None else timeout)


def api_level_headers(level: Optional[int]) -> Optional[dict[str, str]]:
    """The Nats-Required-Api-Level header for API requests (ADR-44), or None."""
    if level is None:
        return None
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise BadArgumentError(f"required_api_level must be a non-negative int, got {level!r}")
    return {REQUIRED_API_LEVEL_HEADER: str(level)}


def _describe(req: dict[str, Any]) -> str:
    if "last_by_subj" in req:
        return f"last of {req['last_by_subj']!r}"
    if "next_by_subj" in req:
        return f"next of {req['next_by_subj']!r} from seq {req.get('seq')}"
    return f"seq {req.get('seq')}"


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name or any(c in name for c in " \t\r\n.*>/\\"):
        raise BadArgumentError(f"invalid {what} name {name!r}: must be non-empty, without "
                         "whitespace, '.', '*', '>', '/' or '\\'")
