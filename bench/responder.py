"""Echo responder for the request/reply benchmarks, run by bench/run.py in its own process.

    python bench/responder.py --url nats://127.0.0.1:4222 --subject bench.echo \
        --client natspy-uvloop|natspy|natsync|raw [--mode echo|micro]

``--mode echo`` (default, the ``req`` scenario): a plain subscription that answers every
request with its payload. ``--client raw`` is a bare-socket echo (the ``req-par`` and
``req-fanout`` scenarios): it parses the MSG frames of each ``recv()`` and sends all their
replies with one ``sendall()``, so its own cost per request is as small as Python allows
and the same for every client under test. ``--mode micro`` (the ``svc`` scenario): a NATS service (ADR-32)
with one endpoint on ``--subject`` whose handler responds with the request's data, built
with ``natsync.micro.add_service`` or nats-py's ``nats.micro.add_service``.

It subscribes, flushes, prints ``READY`` and answers every request until its stdin is
closed (the parent closes it; if the parent dies the pipe closes too), then prints
``SERVED <n>`` and exits. Every client under test talks to the same responder.
"""

from __future__ import annotations

import argparse
import asyncio
import select
import sys
import threading
from typing import Any, List, Tuple


def _wait_stdin_eof() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass


def _stop_on_stdin_eof() -> threading.Event:
    """An event set when stdin closes (the parent's signal to stop), watched by a thread."""
    stop = threading.Event()

    def watch() -> None:
        _wait_stdin_eof()
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    return stop


class ResponderError(Exception):
    """The server sent -ERR to the raw responder."""


def echo_replies(buf: bytes) -> Tuple[bytes, int, bytes]:
    """Parse the complete frames in ``buf``: (replies to send, requests answered, rest).

    Every MSG/HMSG with a reply subject is answered with a PUB of its payload (an HMSG's
    headers are dropped), every PING with a PONG; other lines (INFO, PONG, +OK) are
    ignored. ``rest`` is the incomplete tail, to be prefixed to the next read.
    """
    out: List[bytes] = []
    served = 0
    pos, size = 0, len(buf)
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            break
        if buf.startswith(b"MSG ", pos) or buf.startswith(b"HMSG ", pos):
            parts = buf[pos:eol].split()
            hmsg = parts[0] == b"HMSG"
            start = eol + 2
            end = start + int(parts[-1])
            if end + 2 > size:
                break  # the payload is not all here yet
            if len(parts) == (6 if hmsg else 5):  # has a reply subject
                payload = buf[start + (int(parts[-2]) if hmsg else 0):end]
                out.append(b"PUB %s %d\r\n%s\r\n" % (parts[3], len(payload), payload))
                served += 1
            pos = end + 2
            continue
        line = buf[pos:eol]
        if line == b"PING":
            out.append(b"PONG\r\n")
        elif line.startswith(b"-ERR"):
            raise ResponderError(line.decode("utf-8", "replace"))
        pos = eol + 2
    return b"".join(out), served, buf[pos:]


def run_raw(url: str, subject: str) -> int:
    """Bare-socket echo: one ``sendall`` of every reply a ``recv`` brought requests for."""
    from scenarios import RawConn  # bench/ is on sys.path: this script lives there

    conn = RawConn(url, timeout=10.0)
    stop = _stop_on_stdin_eof()
    served = 0
    try:
        sock = conn.sock
        sock.sendall(b"SUB %s 1\r\nPING\r\n" % subject.encode())
        conn.wait_pong()
        print("READY", flush=True)
        sock.settimeout(None)  # blocking sendall; the stop flag is polled via select
        rest = conn.buf
        while not stop.is_set():
            if not select.select([sock], [], [], 0.2)[0]:
                continue
            data = sock.recv(1 << 20)
            if not data:
                raise ResponderError("connection closed by the server")
            out, answered, rest = echo_replies(rest + data if rest else data)
            if out:
                sock.sendall(out)
            served += answered
    finally:
        conn.close()
    return served


def run_natsync(url: str, subject: str) -> int:
    import natsync

    nc = natsync.connect(url, allow_reconnect=False, name="bench-responder")
    stop = _stop_on_stdin_eof()
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
                        choices=["natspy-uvloop", "natspy", "natsync", "raw"])
    parser.add_argument("--mode", default="echo", choices=["echo", "micro"])
    args = parser.parse_args()
    micro = args.mode == "micro"
    if args.client == "raw":
        if micro:
            parser.error("--client raw has no --mode micro")
        served = run_raw(args.url, args.subject)
    elif args.client == "natsync":
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
