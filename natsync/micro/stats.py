"""An endpoint's statistics, and each request's account with them.

A request is counted once, when it is answered or when its handler returns, whichever
comes first (so a caller holding the reply always finds it counted), and its error
once; the handler may answer from another thread, hence the tally's lock.
"""

from __future__ import annotations

import threading
import time
from typing import Optional, Tuple

from .api import EndpointStats


class EndpointTally:
    """The counters behind `Endpoint.stats()`: requests, errors, the last error, time spent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._num_requests = 0
        self._num_errors = 0
        self._last_error = ""
        self._processing_time = 0

    def count(self, record: RequestRecord) -> None:
        """Add what `record` has not had counted yet."""
        with self._lock:
            elapsed, error = record.uncounted()
            if elapsed is not None:
                self._num_requests += 1
                self._processing_time += elapsed
            if error is not None:
                self._num_errors += 1
                self._last_error = error

    def snapshot(self, name: str, subject: str, queue_group: str) -> EndpointStats:
        """The statistics now, for the endpoint so named (without stats-handler data)."""
        with self._lock:
            n = self._num_requests
            total = self._processing_time
            return EndpointStats(
                name=name, subject=subject, queue_group=queue_group,
                num_requests=n, num_errors=self._num_errors, last_error=self._last_error,
                processing_time=total, average_processing_time=total // n if n else 0)

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._num_requests = 0
            self._num_errors = 0
            self._last_error = ""
            self._processing_time = 0


class RequestRecord:
    """One request's account with its endpoint's tally; `error` ("code:description") is
    set by whoever answers it with an error, or by the endpoint when its handler fails."""

    __slots__ = ("_tally", "_start", "error", "_counted", "_error_counted")

    def __init__(self, tally: EndpointTally) -> None:
        self._tally = tally
        self._start = time.perf_counter_ns()
        self.error: Optional[str] = None
        self._counted = False
        self._error_counted = False

    def count(self) -> None:
        """Have the tally count this request, and its error, unless it already did."""
        self._tally.count(self)

    def uncounted(self) -> Tuple[Optional[int], Optional[str]]:
        """The time the request took and its error, each the first time only (else None);
        the tally calls this under its lock."""
        elapsed = None
        if not self._counted:
            self._counted = True
            elapsed = time.perf_counter_ns() - self._start
        error = None
        if self.error is not None and not self._error_counted:
            self._error_counted = True
            error = self.error
        return elapsed, error
