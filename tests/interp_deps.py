"""The suite on another interpreter (`make test-interp`), e.g. free-threaded CPython 3.13t.

    python tests/interp_deps.py install   # natsync's and the dev extra's packages, each alone
    python tests/interp_deps.py args      # pytest arguments leaving out what cannot run

Some packages have no build for every interpreter (on 3.13t: nkeys, through cffi and
PyNaCl; gevent; trustme, through cryptography). `install` tries each
package on its own and names those that failed; `args` leaves out exactly the tests that
need one of them, and says which, so every test that can run there does.
"""

from __future__ import annotations

import configparser
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The tests each optional import needs (modules, or one test by its node id).
NEEDS: dict[str, list[str]] = {
    "nkeys": [
        "tests/test_auth_tls.py",
        "tests/test_auth_unit.py",
        "tests/test_connection_controls.py",
        "tests/test_cli.py::test_auth_and_tls_flags",
        "tests/test_client_parity.py::test_authenticator_signs_the_nonce_with_an_nkey",
        # installs the built wheel, with its runtime dependencies, into a fresh venv
        "tests/test_packaging.py",
    ],
    "trustme": ["tests/test_auth_tls.py", "tests/test_websocket.py"],
    "gevent": [
        "tests/test_gevent.py",
        "tests/test_contrib_gunicorn.py::"
        "test_gunicorn_workers_each_use_their_own_client[flask-gevent-False]",
    ],
    "nbformat": ["tests/test_notebook.py"],
    "nbclient": ["tests/test_notebook.py"],
    "ipykernel": ["tests/test_notebook.py"],
}


def requirements() -> list[str]:
    """natsync's runtime requirements and its dev extra, as setup.cfg lists them."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = (cfg["options"]["install_requires"] + "\n"
             + cfg["options.extras_require"]["dev"]).splitlines()
    return [line.strip() for line in lines if line.strip()]


def install() -> list[str]:
    """pip-install each requirement on its own (one without a build here must not keep
    the others out); the ones that failed."""
    failed = []
    for req in requirements():
        # --prefer-binary: an older release's wheel rather than a newer one's sdist, which
        # may need a toolchain (a Rust one, for hypothesis) the machine lacks
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                               "--disable-pip-version-check", "--prefer-binary", req],
                              capture_output=True, text=True)
        if done.returncode != 0:
            failed.append(req)
    return failed


def excluded() -> dict[str, list[str]]:
    """The tests left out, by the missing package that rules them out."""
    return {name: tests for name, tests in NEEDS.items()
            if importlib.util.find_spec(name) is None}


#: The check that the dev venv lacks nothing, which cannot hold where something is missing.
COMPLETE = "tests/test_interp_deps.py::test_the_dev_venv_leaves_nothing_out"


def pytest_args(missing: dict[str, list[str]]) -> list[str]:
    args: list[str] = [f"--deselect={COMPLETE}"] if missing else []
    for tests in missing.values():
        for test in tests:
            arg = f"--deselect={test}" if "::" in test else f"--ignore={test}"
            if arg not in args:
                args.append(arg)
    return args


def main(argv: list[str]) -> int:
    if argv == ["install"]:
        failed = install()
        if failed:
            print("not installable on this interpreter: " + ", ".join(failed), file=sys.stderr)
        return 0
    if argv == ["args"]:
        missing = excluded()
        for name, tests in missing.items():
            print(f"left out, {name} is missing: " + ", ".join(tests), file=sys.stderr)
        print(" ".join(pytest_args(missing)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
