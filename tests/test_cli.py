"""The `natsync` command line, run for real in subprocesses against real servers.

Core verbs, connection flags and contexts, signals, the console script and the docs
check are here; the JetStream verbs are in test_cli_js.py (which imports the helpers).
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Optional

import pytest

import natsync
from natsync.cli import docgen
from natsync.cli.common import duration, size
from natsync.cli.main import build_parser, walk
from natsync.cli.output import jsonable, message_json
from natsync.cli.progress import ProgressBar
from natsync.testing import NatsServer, free_port

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "natsync"]

# The commands' bytecode is cached outside the repository, so that each of the many
# subprocesses does not compile natsync again (even where PYTHONDONTWRITEBYTECODE is set).
_PYCACHE = tempfile.mkdtemp(prefix="natsync-cli-pycache-")
atexit.register(shutil.rmtree, _PYCACHE, True)


# --------------------------------------------------------------------------- helpers


class Result:
    """What a finished command printed and returned."""

    def __init__(self, proc: subprocess.CompletedProcess[bytes]) -> None:
        self.code = proc.returncode
        self.raw = proc.stdout
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}>"


def base_env(tmp_config: Path, url: Optional[str] = None) -> dict[str, str]:
    """The environment of every command: no user contexts, NATS_URL set (or not)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NATS_URL", "NATS_CONTEXT", "XDG_CONFIG_HOME", "PYTHONDONTWRITEBYTECODE")}
    env["XDG_CONFIG_HOME"] = str(tmp_config)
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    if url is not None:
        env["NATS_URL"] = url
    return env


class Cli:
    """Runs `python -m natsync ...` with NATS_URL pointing at the test's server."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str, input: bytes = b"", code: Optional[int] = 0,
                 timeout: float = 30, env: Optional[dict[str, str]] = None,
                 cmd: Optional[list[str]] = None) -> Result:
        proc = subprocess.run((cmd or CLI) + list(args), input=input, capture_output=True,
                              env=env or self.env, timeout=timeout)
        res = Result(proc)
        if code is not None:
            assert res.code == code, res
        assert "Traceback" not in res.err, res
        return res

    def bg(self, *args: str, env: Optional[dict[str, str]] = None) -> Background:
        return Background(CLI + list(args), env or self.env)


class Background:
    """A long-running command (sub, reply, kv watch, server) with its output read by threads."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.out: queue.Queue[Optional[str]] = queue.Queue()
        self.err: queue.Queue[Optional[str]] = queue.Queue()
        self.err_seen: list[str] = []
        self.out_seen: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [threading.Thread(target=self._pump, args=(s, q), daemon=True)
                         for s, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream: IO[bytes], q: queue.Queue[Optional[str]]) -> None:
        for line in iter(stream.readline, b""):
            q.put(line.decode("utf-8", "replace").rstrip("\n"))
        q.put(None)

    def _next(self, q: queue.Queue[Optional[str]], seen: list[str], timeout: float) -> str:
        try:
            line = q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout}s; stdout so far {self.out_seen}, "
                                 f"stderr so far {self.err_seen}") from None
        if line is None:
            raise AssertionError(f"the command ended (exit {self.proc.wait()}); stdout "
                                 f"{self.out_seen}, stderr {self.err_seen + self.rest_err()}")
        seen.append(line)
        return line

    def line(self, timeout: float = 10) -> str:
        """The next line of stdout."""
        return self._next(self.out, self.out_seen, timeout)

    def lines(self, n: int, timeout: float = 10) -> list[str]:
        return [self.line(timeout) for _ in range(n)]

    def until(self, text: str, timeout: float = 10) -> list[str]:
        """Stdout lines up to and including the first that contains `text`."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            got.append(self.line(max(deadline - time.monotonic(), 0.01)))
            if text in got[-1]:
                return got

    def ready(self, text: str, timeout: float = 10) -> str:
        """Wait for a stderr line containing `text` (commands announce readiness there)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._next(self.err, self.err_seen, max(deadline - time.monotonic(), 0.01))
            if text in line:
                return line

    def rest_err(self) -> list[str]:
        rest = []
        while True:
            try:
                line = self.err.get_nowait()
            except queue.Empty:
                return rest
            if line is not None:
                rest.append(line)

    def wait(self, timeout: float = 10) -> int:
        code = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        self.err_seen += self.rest_err()
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="module")
def config_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty XDG_CONFIG_HOME, so the developer's own nats contexts stay out of the tests."""
    return tmp_path_factory.mktemp("xdg")


@pytest.fixture
def cli(nats_url: str, config_home: Path) -> Cli:
    return Cli(base_env(config_home, nats_url))


@pytest.fixture
def offline_cli(config_home: Path) -> Cli:
    return Cli(base_env(config_home))


# --------------------------------------------------------------------------- usage and errors


def test_help_version_and_usage_errors(offline_cli: Cli) -> None:
    cli = offline_cli
    assert cli("--version").out.strip() == f"natsync {natsync.__version__}"
    top = cli("--help").out
    for verb in ("pub", "sub", "req", "reply", "rtt", "server", "stream", "consumer", "kv",
                 "obj", "micro"):
        assert re.search(rf"^\s+{verb}\b", top, re.M), verb
    assert "usage: natsync stream add [options] STREAM" in cli("stream", "add", "-h").out
    for args, text in (([], "required: COMMAND"),
                       (["pub"], "required: SUBJECT"),
                       (["stream"], "required: COMMAND"),
                       (["pub", "x", "--count", "0"], "must be at least 1"),
                       (["stream", "add", "S", "--max-age", "soon"], "invalid duration"),
                       (["stream", "add", "S", "--storage", "tape"], "invalid choice"),
                       (["sub", "x", "--raw", "--headers"], "not allowed with"),
                       (["nosuchverb"], "invalid choice")):
        res = cli(*args, code=2)
        assert text in res.err, res
        assert res.err.startswith("usage: natsync"), res
    # A usage error found by the command itself (before connecting) is a 2 as well.
    res = cli("reply", "x", code=2)
    assert "give a RESPONSE or --echo" in res.err


def test_connection_failure_is_one_line_and_exit_1(offline_cli: Cli) -> None:
    port = free_port()
    res = offline_cli("pub", "x", "y", "-s", f"nats://127.0.0.1:{port}", "--timeout", "1",
                      code=1)
    assert res.err.startswith(f"natsync pub: cannot connect to nats://127.0.0.1:{port}"), res
    assert len(res.err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- core messaging


def test_pub_sub(cli: Cli) -> None:
    with cli.bg("sub", "greet.*", "--count", "4", "--headers") as sub, \
            cli.bg("sub", "greet.*", "--json") as jsub, \
            cli.bg("sub", "greet.*", "--raw", "--queue", "q", "--count", "4") as raw:
        for p in (sub, jsub, raw):
            assert "Subscribing on greet.*" in p.ready("Subscribing on")
        res = cli("pub", "greet.joe", "hello", "-H", "Trace-Id:42", "-H", "X:a b")
        assert res.out.strip() == "Published 1 message (5 bytes) to 'greet.joe'"
        cli("pub", "greet.stdin", input=b"from stdin\n", code=0)
        res = cli("--json", "pub", "greet.n", "n={{count}}", "--count", "2")
        assert res.json() == {"subject": "greet.n", "count": 2, "bytes": 6}

        lines = sub.until("n=2")
        text = "\n".join(lines)
        assert "[#1] Received on 'greet.joe'" in text
        assert "Trace-Id: 42" in text and "X: a b" in text
        assert "from stdin" in text and "n=1" in text
        assert sub.wait() == 0  # --count 4 reached

        docs = [json.loads(jsub.line()) for _ in range(4)]
        assert docs[0] == {"subject": "greet.joe", "headers": {"Trace-Id": ["42"], "X": ["a b"]},
                           "size": 5, "data": "hello"}
        assert [d["data"] for d in docs[1:]] == ["from stdin\n", "n=1", "n=2"]

        assert raw.lines(4) == ["hello", "from stdin", "n=1", "n=2"]
        assert raw.wait() == 0

        cli("pub", "greet.bin", "-", input=b"\xff\x00\x01")
        assert json.loads(jsub.line()) == {"subject": "greet.bin", "size": 3,
                                           "data_b64": "/wAB"}


def test_req_and_reply(cli: Cli, nc: natsync.Client) -> None:
    with cli.bg("reply", "greet", "hello {{msg}} #{{count}}", "--count", "3") as rep:
        rep.ready("Listening on greet")
        assert cli("req", "greet", "joe").out == "hello joe #1\n"
        doc = json.loads(cli("--json", "req", "greet", "ann").out)
        assert doc["data"] == "hello ann #2" and doc["rtt"] > 0
        assert nc.request("greet", b"bo", timeout=5).data == b"hello bo #3"
        assert rep.wait() == 0
        assert "[#1] Received request on 'greet'" in rep.until("[#1]")[-1]

    with cli.bg("--json", "reply", "echo", "--echo", "-H", "Served-By:cli") as echo:
        echo.ready("Listening on echo")
        reply = nc.request("echo", b"ping", headers={"K": "V"}, timeout=5)
        assert reply.data == b"ping"
        assert reply.headers is not None and reply.headers["K"] == "V"
        assert reply.headers["Served-By"] == "cli"
        logged = json.loads(echo.line())
        assert logged["subject"] == "echo" and logged["data"] == "ping" and logged["count"] == 1
        res = cli("req", "echo", "hi", "--headers", "-H", "A:1")
        assert "A: 1" in res.out and "Served-By: cli" in res.out and "hi" in res.out

    res = cli("req", "nobody.home", "x", code=1)
    assert res.err.strip() == ("natsync req: nats: no responders available for request "
                               "on 'nobody.home'")


def test_req_many_replies(cli: Cli, nc: natsync.Client) -> None:
    for i in range(3):
        nc.subscribe("count", cb=lambda m, i=i: m.respond(b"r%d" % i))
    nc.flush()
    res = cli("--json", "req", "count", "--replies", "0", "--timeout", "0.5")
    assert sorted(d["data"] for d in res.json_lines()) == ["r0", "r1", "r2"]
    res = cli("req", "count", "--replies", "2", "--raw")
    assert len(res.out.split()) == 2 and "2 replies" in res.err


def test_rtt_and_server_info(cli: Cli, nats_server: NatsServer) -> None:
    res = cli("rtt", "--iterations", "2")
    assert res.out.startswith(f"{nats_server.url}: ") and "average of 2" in res.out
    doc = cli("--json", "rtt").json()
    assert doc["server"] == nats_server.url and len(doc["rtts"]) == 5 and doc["rtt"] > 0
    res = cli("server", "info")
    assert re.search(r"^version:\s+2\.", res.out, re.M)
    assert re.search(rf"^port:\s+{nats_server.port}$", res.out, re.M)
    info = cli("server", "info", "--json").json()
    assert info["port"] == nats_server.port and info["jetstream"] is True
    assert info["connected_url"] == nats_server.url


# --------------------------------------------------------------------------- signals


def test_ctrl_c_and_sigterm_exit_quietly(cli: Cli) -> None:
    with cli.bg("sub", "x") as sub, cli.bg("reply", "y", "--echo") as rep:
        sub.ready("Subscribing")
        rep.ready("Listening")
        sub.proc.send_signal(signal.SIGINT)
        rep.proc.send_signal(signal.SIGTERM)
        assert sub.wait() == 130
        assert rep.wait() == 143
        assert sub.err_seen == ["Subscribing on x"]
        assert rep.err_seen == ["Listening on y"]
        assert sub.proc.stdout is not None


def test_server_runs_in_the_foreground(offline_cli: Cli, tmp_path: Path) -> None:
    port = free_port()
    store = tmp_path / "store"
    with offline_cli.bg("server", "--port", str(port), "--store", str(store), "--json") as srv:
        doc = json.loads(srv.line(timeout=20))
        assert doc["url"] == f"nats://127.0.0.1:{port}" and doc["jetstream"] is True
        assert doc["store"] == str(store) and doc["version"]
        with natsync.connect(doc["url"]) as nc:
            assert nc.jetstream().account_info().streams == 0  # JetStream is on
        url_cli = Cli(dict(offline_cli.env, NATS_URL=doc["url"]))
        url_cli("stream", "add", "KEEP")
        srv.proc.send_signal(signal.SIGINT)
        assert srv.wait(20) == 0
        assert srv.err_seen[-1] == "Stopping nats-server"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert (store / "jetstream").is_dir()  # --store is kept

    # Human output, a temporary store, and SIGTERM.
    port = free_port()
    with offline_cli.bg("server", "--port", str(port)) as srv:
        first = srv.line(timeout=20)
        assert first.startswith("nats-server ") and first.endswith(f"nats://127.0.0.1:{port}")
        store_line = srv.line()
        assert "deleted on exit" in store_line
        temp_store = Path(store_line.split(": ", 1)[1].split(" (", 1)[0])
        assert temp_store.is_dir()
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.wait(20) == 0
    assert not temp_store.exists()

    # A port in use: one line saying so, exit 1.
    with NatsServer() as other:
        res = offline_cli("server", "--port", str(other.port), code=1)
        assert res.err.startswith("natsync server: ") and "address already in use" in res.err


# --------------------------------------------------------------------------- contexts and auth


def _write_context(home: Path, name: str, doc: dict[str, Any]) -> None:
    d = home / "nats" / "context"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.json").write_text(json.dumps(doc))


def test_contexts(tmp_path: Path) -> None:
    password = "s3cr3t pass"
    config = {"authorization": {"users": [{"user": "app", "password": password}]}}
    with NatsServer(config=config) as srv:
        xdg = tmp_path / "xdg"
        _write_context(xdg, "dev", {"url": srv.url, "user": "app", "password": password,
                                    "description": "ignored"})
        _write_context(xdg, "wrongpw", {"url": srv.url, "user": "app", "password": "nope"})
        env = base_env(xdg)
        cli = Cli(env)
        assert cli("--context", "dev", "rtt").out.startswith(srv.url)
        assert cli("rtt", "--context", "dev").out.startswith(srv.url)  # after the verb too
        cli("rtt", env=dict(env, NATS_CONTEXT="dev"))
        # Flags win over the context: a bad password from the context, a good one given.
        res = cli("--context", "wrongpw", "rtt", code=1)
        assert "Authorization Violation" in res.err
        cli("--context", "wrongpw", "--password", password, "rtt")
        # ... and --server wins over its url.
        res = cli("--context", "dev", "-s", f"nats://127.0.0.1:{free_port()}", "rtt",
                  "--timeout", "1", code=1)
        assert "cannot connect" in res.err
        # A path works as a context name.
        cli("--context", str(xdg / "nats" / "context" / "dev.json"), "rtt")

        # The selected context (context.txt) is used when no --context/--server/NATS_URL.
        (xdg / "nats" / "context.txt").write_text("dev\n")
        assert cli("rtt").out.startswith(srv.url)
        res = cli("rtt", env=dict(env, NATS_URL=f"nats://127.0.0.1:{free_port()}"), code=1)
        assert "cannot connect" in res.err  # NATS_URL means "not the selected context"

        # Without XDG_CONFIG_HOME, ~/.config is used.
        home = tmp_path / "home"
        _write_context(home / ".config", "dev", {"url": srv.url, "user": "app",
                                                 "password": password})
        home_env = {k: v for k, v in env.items() if k != "XDG_CONFIG_HOME"}
        home_env["HOME"] = str(home)
        cli("--context", "dev", "rtt", env=home_env)

        res = cli("--context", "nosuch", "rtt", code=1)
        assert "unknown context 'nosuch'" in res.err


def test_auth_and_tls_flags(tmp_path: Path, config_home: Path) -> None:
    import nkeys
    import trustme

    from . import jwt_helpers as jh

    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    client_cert = ca.issue_cert("client@natsync.test")
    files = {name: tmp_path / f"{name}.pem" for name in ("server", "server-key", "client",
                                                         "client-key", "ca")}
    server_cert.cert_chain_pems[0].write_to_path(str(files["server"]))
    server_cert.private_key_pem.write_to_path(str(files["server-key"]))
    client_cert.cert_chain_pems[0].write_to_path(str(files["client"]))
    client_cert.private_key_pem.write_to_path(str(files["client-key"]))
    ca.cert_pem.write_to_path(str(files["ca"]))
    user = jh.new_keys("user")
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(user.seed + b"\n")
    assert nkeys.from_seed(bytearray(user.seed)).public_key.decode() == user.public

    config = {"tls": {"cert_file": str(files["server"]), "key_file": str(files["server-key"]),
                      "ca_file": str(files["ca"]), "verify": True},
              "authorization": {"users": [{"nkey": user.public},
                                          {"user": "app", "password": "pw"}]}}
    cli = Cli(base_env(config_home))
    tls = ["--tls-ca", str(files["ca"]), "--tls-cert", str(files["client"]),
           "--tls-key", str(files["client-key"])]
    with NatsServer(config=config) as srv:
        url = f"tls://127.0.0.1:{srv.port}"
        assert cli("rtt", "-s", url, "--nkey", str(seed_file), *tls).out.startswith(url)
        cli("rtt", "-s", url, "--user", "app", "--password", "pw", *tls)
        res = cli("rtt", "-s", url, "--user", "app", "--password", "bad", *tls, code=1)
        assert "Authorization Violation" in res.err
        res = cli("rtt", "-s", url, "--user", "app", "--password", "pw",
                  "--tls-ca", str(files["ca"]), code=1)  # no client certificate
        assert "certificate" in res.err
        res = cli("rtt", "-s", url, "--tls-cert", str(files["client"]), code=1)
        assert "--tls-cert and --tls-key go together" in res.err
        # The same through a context; the nkey seed given as an env:// URI.
        _write_context(config_home, "tls", {
            "url": url, "nkey": "env://TEST_SEED", "ca": str(files["ca"]),
            "cert": str(files["client"]), "key": str(files["client-key"])})
        cli("--context", "tls", "rtt", env=dict(cli.env, TEST_SEED=user.seed.decode()))

    with NatsServer(config={"authorization": {"token": "t0k"}}) as srv:
        cli("rtt", "-s", srv.url, "--token", "t0k")
        assert "Authorization Violation" in cli("rtt", "-s", srv.url, code=1).err

    op = jh.decentralized()
    with NatsServer(config=op.server_config()) as srv:
        creds = jh.write_creds(tmp_path / "user.creds", op.user_jwt, op.user.seed)
        cli("rtt", "-s", srv.url, "--creds", creds)
        import base64
        data = base64.b64encode(Path(creds).read_bytes()).decode()
        _write_context(config_home, "op", {"url": srv.url, "creds": f"data:;base64,{data}"})
        cli("--context", "op", "rtt")
        _write_context(config_home, "jwt", {"url": srv.url, "user_jwt": op.user_jwt,
                                            "nkey": f"file://{seed_path(tmp_path, op)}"})
        cli("--context", "jwt", "rtt")
        _write_context(config_home, "nsc", {"url": srv.url, "creds": "nsc://op/acc/user"})
        assert "nsc:// credentials are not supported" in cli("--context", "nsc", "rtt",
                                                              code=1).err


def seed_path(tmp_path: Path, op: Any) -> Path:
    path = tmp_path / "jwt-user.nk"
    path.write_bytes(op.user.seed)
    return path


# --------------------------------------------------------------------------- the console script


def test_console_script(nats_url: str, config_home: Path, nc: natsync.Client) -> None:
    script = Path(sys.executable).with_name("natsync")
    assert script.exists(), "pip install -e . creates the natsync script next to python"
    cli = Cli(base_env(config_home, nats_url))
    assert cli("--version", cmd=[str(script)]).out.startswith("natsync ")
    sub = nc.subscribe("via.script")
    nc.flush()
    cli("pub", "via.script", "hi", cmd=[str(script)])
    assert sub.next_msg(timeout=5).data == b"hi"


# --------------------------------------------------------------------------- docs/cli.md


def test_docs_reference_is_generated_from_the_parsers() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert docgen.splice(text, docgen.reference()) == text, (
        "docs/cli.md is out of date: run python -m natsync.cli.docgen --write docs/cli.md")
    parser = build_parser()
    for prog, cmd in walk(parser):
        # Every command's --help usage line is in the docs, under its own heading.
        usage_line = cmd.format_usage().strip()
        assert usage_line in cmd.format_help()
        if cmd is parser:
            continue
        start = text.index(f"### `{prog}`\n")
        end = text.find("\n### ", start + 1)
        part = text[start:end if end > 0 else None]
        assert usage_line in part, prog
        for action in cmd._actions:
            for opt in action.option_strings:
                if opt not in ("-h", "--help") and action.dest not in docgen._common_dests():
                    assert opt in part, (prog, opt)
    assert "## Cron jobs" in text and "crontab" in text and "consumer next" in text


def test_docgen_check_mode(tmp_path: Path) -> None:
    stale = tmp_path / "cli.md"
    stale.write_text(f"intro\n{docgen.BEGIN}\nold\n{docgen.END}\nend\n")
    assert docgen.main(["--check", str(stale)]) == 1
    assert docgen.main(["--write", str(stale)]) == 0
    assert docgen.main(["--check", str(stale)]) == 0
    assert stale.read_text().startswith("intro\n") and stale.read_text().endswith("end\n")


# --------------------------------------------------------------------------- helpers, in-process


def test_argument_types() -> None:
    assert duration("90") == 90 and duration("1h30m") == 5400 and duration("500ms") == 0.5
    assert duration("7d") == 7 * 86400 and duration("1.5s") == 1.5
    assert size("1024") == 1024 and size("10M") == 10 * 1024 ** 2 and size("1GiB") == 1024 ** 3
    assert size("unlimited") == -1
    for bad, parse in (("1x", duration), ("", duration), ("ten", size)):
        with pytest.raises(Exception, match="invalid|empty"):
            parse(bad)


def test_progress_bar_and_json_helpers() -> None:
    import io

    stream = io.StringIO()
    bar = ProgressBar("file.bin", stream=stream, width=60, interval=0)
    bar(0, 2048)
    bar(1024, 2048)
    bar(2048, 2048)
    bar.finish()
    text = stream.getvalue()
    assert " 50.0%" in text and "100.0%" in text and text.endswith("\n")
    assert "[" + "#" * 5 in text
    unknown = ProgressBar("pipe", stream=io.StringIO())
    unknown(5000, None)
    assert "4.9 KiB" in unknown.render()

    assert message_json("s", b"\xff", reply="r") == {"subject": "s", "reply": "r", "size": 1,
                                                     "data_b64": "/w=="}
    assert jsonable({"h": natsync.Headers({"A": ["1", "2"]}), "b": b"\x00"}) == {
        "h": {"A": ["1", "2"]}, "b": "AA=="}


def test_json_flag_works_everywhere() -> None:
    """--json before or after the verb, and on group commands."""
    parser = build_parser()
    for argv in (["--json", "rtt"], ["rtt", "--json"], ["stream", "--json", "ls"],
                 ["stream", "ls", "--json"]):
        assert parser.parse_args(argv).json is True, argv
    args = parser.parse_args(["-s", "nats://a:1", "stream", "ls"])
    assert args.server == "nats://a:1"  # a flag before the verb is not reset by the verb
    assert parser.parse_args(["stream", "ls"]).server is None
