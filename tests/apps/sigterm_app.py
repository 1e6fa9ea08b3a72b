"""A process with a ProcessClient, for the SIGTERM tests: python sigterm_app.py URL MODE APP.

MODE is ProcessClient's sigterm= value; APP "own" installs the app's own SIGTERM handler
first (it prints and exits normally), "none" leaves the default. Prints "ready" once
connected and "closed" when the client has been drained.
"""

from __future__ import annotations

import signal
import sys
import time

from natsync.contrib.process import ProcessClient


def main(url: str, mode: str, app: str) -> None:
    if app == "own":
        def on_term(signum: int, frame: object) -> None:
            print("app handler", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
    holder = ProcessClient(url, sigterm=mode, closed_cb=lambda: print("closed", flush=True))
    holder.client.publish("sigterm.ready", b"")
    holder.client.flush()
    print("ready", flush=True)
    for _ in range(600):
        time.sleep(0.1)
    print("not signalled", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
