"""Echo responder for the request/reply benchmarks, run by bench/run.py in its own process.

    python bench/responder.py --url nats://127.0.0.1:4222 --subject bench.echo \
        --client natspy-uvloop|natspy|natsync [--mode echo|micro]

``--mode echo`` (default, the ``req`` scenario): a plain subscription that answers every
request with its payload. ``--mode micro`` (the ``svc`` scenario): a NATS service (ADR-32)
with one endpoint on ``--subject`` whose handler responds with the request's data, built
with ``natsync.micro.add_service`` or nats-py's ``nats.micro.add_service``.

It subscribes, flushes, prints ``READY`` and answers every request until its stdin is
closed (the parent closes it; if the parent dies the pipe closes too), then prints
``SERVED <n>`` and exits. Every client under test talks to the same responder.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from typing import Any


def _wait_stdin_eof() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass


def run_natsync(url: str, subject: str) -> int:
    import natsync

    nc = natsync.connect(url, allow_reconnect=False, name="bench-responder")
    stop = threading.Event()
    threading.Thread(target=lambda: (_wait_stdin_eof(), stop.set()), daemon=True).start()
    served = 0
    try:
        sub = nc.subscribe(subject)
        nc.flush()
        print("READY", flush=True)
        next_msg = sub.next_msg
        while not stop.is_set():
            try:
                msg = next_msg(timeout=0.2)
            except natsync.errors.TimeoutError:
                continue
            msg.respond(msg.data)
            served += 1
        nc.flush(timeout=2)
    finally:
        nc.close()
    return served


def run_natsync_micro(url: str, subject: str) -> int:
    import natsync
    import natsync.micro

    nc = natsync.connect(url, allow_reconnect=False, name="bench-service")
    served = 0

    def echo(req: Any) -> None:
        nonlocal served
        req.respond(req.data)
        served += 1

    try:
        svc = natsync.micro.add_service(nc, name="bench-echo-natsync", version="1.0.0")
        svc.add_endpoint("echo", echo, subject=subject)
        nc.flush()
        print("READY", flush=True)
        _wait_stdin_eof()
        svc.stop(timeout=2)
        nc.flush(timeout=2)
    finally:
        nc.close()
    return served


async def run_natspy_micro(url: str, subject: str) -> int:
    import nats
    import nats.micro

    nc = await nats.connect(url, allow_reconnect=False, name="bench-service")
    served = 0

    async def echo(req: Any) -> None:
        nonlocal served
        await req.respond(req.data)
        served += 1

    try:
        svc = await nats.micro.add_service(nc, name="bench-echo-natspy", version="1.0.0")
        await svc.add_endpoint(name="echo", subject=subject, handler=echo)
        await nc.flush()
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, _wait_stdin_eof)
        await svc.stop()
        await nc.flush(timeout=2)
    finally:
        await nc.close()
    return served


async def run_natspy(url: str, subject: str) -> int:
    import nats

    nc = await nats.connect(url, allow_reconnect=False, name="bench-responder")
    served = 0

    async def on_request(msg: Any) -> None:
        nonlocal served
        await msg.respond(msg.data)
        served += 1

    try:
        await nc.subscribe(subject, cb=on_request)
        await nc.flush()
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, _wait_stdin_eof)
        await nc.flush(timeout=2)
    finally:
        await nc.close()
    return served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--client", default="natspy-uvloop",
                        choices=["natspy-uvloop", "natspy", "natsync"])
    parser.add_argument("--mode", default="echo", choices=["echo", "micro"])
    args = parser.parse_args()
    micro = args.mode == "micro"
    if args.client == "natsync":
        served = (run_natsync_micro if micro else run_natsync)(args.url, args.subject)
    else:
        coro = (run_natspy_micro if micro else run_natspy)(args.url, args.subject)
        if args.client == "natspy":
            served = asyncio.run(coro)
        else:
            import uvloop

            served = uvloop.run(coro)
    print(f"SERVED {served}", flush=True)


if __name__ == "__main__":
    main()
