"""A cron job that never runs twice at once: a lock taken with `create` and a TTL.

Every run starts with `kv.create(LOCK, me, msg_ttl=LEASE)`. `create` stores a value only
if the key has none, so when two runs overlap (a slow run and the next tick, or the same
crontab on two hosts) exactly one gets the lock; the other gets
KeyWrongLastSequenceError and skips. The lock comes back by itself:

- the winner releases it with `kv.delete(LOCK, last=its_revision)`: a compare-and-set,
  so a run whose lease ran out never deletes the lock a later run holds now;
- a run that crashes never releases it, but the server expires the value after LEASE
  seconds (a per-key TTL, nats-server 2.11+) and leaves a marker; `create` succeeds
  over a marker just as over a deleted key.

    python examples/cron_lock.py

With NATS_URL set it uses that server; otherwise it starts an embedded nats-server with
JetStream. Against a server older than 2.11 the whole bucket gets a TTL instead.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Optional

import natsync
from natsync.kv import (
    BucketNotFoundError,
    KeyNotFoundError,
    KeyValue,
    KeyValueLimitMarkerTTLNotSupportedError,
    KeyWrongLastSequenceError,
)
from natsync.testing import server_url

BUCKET = "demo-cron-locks"
LOCK = "nightly-report"
LEASE = 2.0  # seconds a crashed run keeps the lock


class Tally:
    """How many runs work at the same moment (the demo's proof that it is never two)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.working = 0
        self.most = 0
        self.worked: list[str] = []

    def start(self, name: str) -> None:
        with self._lock:
            self.working += 1
            self.most = max(self.most, self.working)
            self.worked.append(name)

    def end(self) -> None:
        with self._lock:
            self.working -= 1


def cron_run(name: str, url: str, say: Callable[[str], None], tally: Tally,
             lease: Optional[float], work_seconds: float = 0.5, crash: bool = False,
             start: Optional[threading.Barrier] = None) -> bool:
    """One run of the job: take the lock or skip; work; release. True if it did the work.

    `lease` is the lock's per-key TTL (None when the bucket's own TTL does the job).
    """
    with natsync.connect(url, name=name) as nc:
        kv = nc.jetstream().key_value(BUCKET)
        if start is not None:
            start.wait(10)  # line the runs up so they really overlap
        try:
            revision = kv.create(LOCK, name.encode(), msg_ttl=lease)
        except KeyWrongLastSequenceError:
            say(f"{name}: lock held by {holder(kv)}; skipped.")
            return False
        say(f"{name}: took the lock (revision {revision}).")
        tally.start(name)
        try:
            time.sleep(work_seconds)  # the actual job would run here
        finally:
            tally.end()
        if crash:
            say(f"{name}: crashed without releasing the lock.")
            return True
        try:
            kv.delete(LOCK, last=revision)  # only if the lock is still ours
            say(f"{name}: done, released the lock.")
        except KeyWrongLastSequenceError:
            say(f"{name}: done, but its lease had run out; left the lock alone.")
        return True


def holder(kv: KeyValue) -> str:
    try:
        return kv.get(LOCK).value.decode()
    except KeyNotFoundError:  # released in the meantime
        return "a run that just finished"


def drop_bucket(js: Any) -> None:
    """Delete the demo's own bucket if it is there (from an earlier run)."""
    try:
        js.delete_key_value(BUCKET)
    except BucketNotFoundError:
        pass


def run(url: str, say: Callable[[str], None] = print) -> None:
    with natsync.connect(url, name="cron-setup") as nc:
        js = nc.jetstream()
        drop_bucket(js)
        lease: Optional[float] = LEASE
        try:
            js.create_key_value(bucket=BUCKET, history=5, limit_marker_ttl=1.0)
            say(f"Created bucket {BUCKET!r} with per-key TTLs; a lock lease is {LEASE:g}s.")
        except KeyValueLimitMarkerTTLNotSupportedError:
            drop_bucket(js)
            js.create_key_value(bucket=BUCKET, history=5, ttl=LEASE)
            lease = None
            say(f"Server older than 2.11: created bucket {BUCKET!r} with ttl={LEASE:g}s instead.")

        tally = Tally()
        start = threading.Barrier(2)
        results: dict[str, bool] = {}
        runs = [threading.Thread(target=lambda n=n: results.__setitem__(
            n, cron_run(n, url, say, tally, lease, start=start))) for n in ("run-A", "run-B")]
        for t in runs:
            t.start()
        for t in runs:
            t.join(30)
        worked = sum(results.values())
        say(f"Overlapping runs: run-A and run-B started together; {worked} did the work, "
            f"{len(results) - worked} skipped.")

        cron_run("run-C", url, say, tally, lease, work_seconds=0.1, crash=True)
        cron_run("run-D", url, say, tally, lease)
        deadline = time.monotonic() + LEASE + 10
        waited = time.monotonic()
        while not cron_run("run-E", url, lambda s: None, tally, lease, work_seconds=0.1):
            if time.monotonic() > deadline:
                raise RuntimeError("the crashed run's lease never expired")
            time.sleep(0.2)
        say(f"run-E: got the lock {time.monotonic() - waited:.1f}s after run-C crashed "
            "(its lease expired on the server) and released it.")

        kv = js.key_value(BUCKET)
        steps = [f"{e.operation}" + (f"({e.marker_reason})" if e.marker_reason else "")
                 for e in kv.history(LOCK)]
        say(f"The lock's stored history: {', '.join(steps) or 'none'} "
            "(run-C's value is gone: the server expired it).")
        say(f"Runs that worked: {', '.join(tally.worked)}; at most {tally.most} at any moment.")
        say("Exactly one run worked at any time." if tally.most == 1 else
            f"BUG: {tally.most} runs worked at the same time!")
        js.delete_key_value(BUCKET)
        say(f"Deleted the demo's bucket {BUCKET!r}.")


def main() -> int:
    with server_url(jetstream=True, say=print) as url:
        run(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
