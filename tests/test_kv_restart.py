"""A Key-Value watcher across a server restart: every stored revision once, in order."""

from __future__ import annotations

import threading
import time

import pytest

import natsync
from natsync.errors import Error as NatsError
from natsync.errors import TimeoutError as NatsTimeoutError
from natsync.kv import Entry
from natsync.testing import NatsServer

FAST = {"reconnect_time_wait": 0.1, "reconnect_jitter": 0.0, "max_reconnect_attempts": -1}
KEYS = 10
BEFORE = 20  # revisions stored before the watch starts (two per key)
TOTAL = 600  # puts while watching; 60 per key fits in history=64, so all stay stored


@pytest.mark.parametrize("mode", ["latest", "include_history", "updates_only"])
def test_watch_every_revision_across_server_restart(mode: str) -> None:
    with NatsServer(jetstream=True) as srv:
        wnc = natsync.connect(srv.url, **FAST)
        pnc = natsync.connect(srv.url, **FAST)
        try:
            kv = wnc.jetstream().create_key_value(bucket="live", history=64)
            pkv = pnc.jetstream().key_value("live")
            for i in range(BEFORE):
                pkv.put(f"k.{i % KEYS}", b"%d" % i)
            w = kv.watchall(include_history=mode == "include_history",
                            updates_only=mode == "updates_only")
            first_consumer = w._target.name
            acked: dict[int, bytes] = {}
            failed: list[int] = []
            done = threading.Event()
            halfway = threading.Event()

            def restarter() -> None:  # restarts the server while the writer keeps writing
                if halfway.wait(60):
                    srv.restart()

            def writer() -> None:
                try:
                    for i in range(BEFORE, BEFORE + TOTAL):
                        if i == BEFORE + TOTAL // 2:
                            halfway.set()
                        try:
                            acked[pkv.put(f"k.{i % KEYS}", b"%d" % i)] = b"%d" % i
                        except NatsError:
                            failed.append(i)  # the writer saw the error; maybe stored anyway
                        time.sleep(0.002)
                finally:
                    done.set()

            got: list[Entry] = []
            markers = 0
            t = threading.Thread(target=writer)
            r = threading.Thread(target=restarter)
            t.start()
            r.start()
            deadline = time.monotonic() + 90
            last_seq = None
            while time.monotonic() < deadline:
                try:
                    e = w.updates(timeout=1)
                except NatsTimeoutError:
                    e = None
                    if not done.is_set():
                        continue
                else:
                    if e is None:
                        markers += 1
                    else:
                        got.append(e)
                        continue
                if done.is_set():
                    if last_seq is None:
                        last_seq = kv.status().stream_info.state.last_seq
                    if got and got[-1].revision >= last_seq:
                        break
            t.join(30)
            r.join(30)
            assert w._target.name != first_consumer  # the watch resumed on a new consumer
            w.stop()
            assert done.is_set()
            assert wnc.stats["reconnects"] >= 1 and pnc.stats["reconnects"] >= 1

            stored = sorted((e for k in range(KEYS) for e in kv.history(f"k.{k}")),
                            key=lambda e: e.revision)
            assert len(stored) >= len(acked) and len(stored) <= BEFORE + TOTAL
            by_rev = {e.revision: e.value for e in stored}
            for rev, value in acked.items():  # every acknowledged put is in the stream
                assert by_rev[rev] == value
            if mode == "include_history":
                expected = [e.revision for e in stored]
            elif mode == "latest":
                expected = [e.revision for e in stored if e.revision > BEFORE - KEYS]
            else:
                expected = [e.revision for e in stored if e.revision > BEFORE]
            revs = [e.revision for e in got]
            assert len(revs) == len(set(revs)), "a revision was delivered twice"
            assert revs == expected, (
                f"missing {sorted(set(expected) - set(revs))[:10]}, "
                f"extra {sorted(set(revs) - set(expected))[:10]}")
            assert all(e.value == by_rev[e.revision] for e in got)
            assert markers == (0 if mode == "updates_only" else 1)
            print(f"\n{mode}: {len(got)} revisions watched across a restart; "
                  f"{len(failed)} puts failed during it")
        finally:
            wnc.close()
            pnc.close()
