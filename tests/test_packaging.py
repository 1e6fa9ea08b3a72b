"""The built sdist and wheel: contents, one version, and a fresh venv that really uses the wheel.

The package is built from a copy of the checkout (so no build/ or egg-info lands in the
source tree), installed into a new venv without system site-packages, and exercised there
against a real nats-server started from this process.
"""

from __future__ import annotations

import ast
import email.message
import email.parser
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Set

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import natsync
from natsync.testing import NatsServer

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "natsync"
RUNTIME_DEPS = {"nkeys", "certifi"}
_COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "dist", "build", "*.egg-info",
                                      "__pycache__", ".*_cache", ".hypothesis", "bench",
                                      "*.so")
#: The C source of the optional extension: in the sdist, compiled (not copied) into the wheel.
_C_SOURCE = "natsync/_speedups.c"


@dataclass
class Built:
    """What the module fixture made: the artifacts and the venv the wheel went into."""

    sdist: Path
    wheel: Path
    venv_python: Path
    site_packages: Path
    work: Path


def _run(cmd: List[str], cwd: Path, timeout: float = 120) -> str:
    """Run *cmd* without PYTHONPATH leaking in; fail with its output if it fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _source_files() -> Set[str]:
    """Every file of the natsync package in the checkout, as archive paths."""
    return {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".so"}


# Subpackages that need an extra the fresh venv does not have (a bare install lacks them).
_NEEDS_EXTRA = {"natsync.contrib.otel": "otel", "natsync.contrib.celery": "celery",
                "natsync.contrib.dramatiq": "dramatiq"}


def _subpackages() -> List[str]:
    """Dotted names of natsync and each of its subpackages in the checkout."""
    return sorted(".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Build sdist + wheel from a copy of the checkout and install the wheel in a fresh venv."""
    work = tmp_path_factory.mktemp("packaging")
    before = sorted(p.name for p in ROOT.iterdir())
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=_COPY_IGNORE)
    # PyPA build makes the sdist, then the wheel from the unpacked sdist, so a file the sdist
    # forgot is missing from the wheel too. No isolation: the build deps are in this venv.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"),
          str(src)], cwd=work)
    assert sorted(p.name for p in ROOT.iterdir()) == before, "the build wrote into the checkout"
    (sdist,) = (work / "dist").glob("natsync-*.tar.gz")
    (wheel,) = (work / "dist").glob("natsync-*.whl")

    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=work)
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg, cfg
    venv_python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # This venv's pip installs into the new one, so it holds nothing but the wheel and its deps.
    _run([sys.executable, "-m", "pip", "--python", str(venv_python), "install", "-q",
          "--disable-pip-version-check", str(wheel)], cwd=work)
    site = _run([str(venv_python), "-I", "-c",
                 "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=work).strip()
    yield Built(sdist, wheel, venv_python, Path(site), work)


def _wheel_metadata(wheel: Path) -> email.message.Message:
    """The METADATA file of *wheel*, parsed."""
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(zf.read(name).decode())


def test_version_py_is_import_free() -> None:
    """setup.cfg reads the version with attr:, which must not need nkeys at build time."""
    tree = ast.parse((PACKAGE / "version.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert "version = attr: natsync.version.__version__" in (ROOT / "setup.cfg").read_text()


def test_sdist_carries_package_license_readme_changelog(built: Built) -> None:
    with tarfile.open(built.sdist) as tf:
        top = built.sdist.name[: -len(".tar.gz")]
        names = {n[len(top) + 1:] for n in tf.getnames() if n.startswith(top + "/")}
    for required in ("LICENSE", "README.md", "CHANGELOG.md", "PKG-INFO", "setup.cfg",
                     "pyproject.toml", "natsync/py.typed"):
        assert required in names, f"{required} missing from {built.sdist.name}"
    missing = _source_files() - names
    assert not missing, f"package files missing from the sdist: {sorted(missing)}"


def test_wheel_has_every_subpackage_and_py_typed_and_metadata(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as zf:
        in_wheel = {n for n in zf.namelist() if n.startswith("natsync/")}
    compiled = {n for n in in_wheel if n.startswith("natsync/_speedups.") and n.endswith(".so")}
    assert len(compiled) == 1, f"the wheel has no compiled natsync._speedups: {sorted(in_wheel)}"
    assert in_wheel - compiled == _source_files() - {_C_SOURCE}
    assert "natsync/py.typed" in in_wheel
    for pkg in ("cli", "js", "kv", "obs", "micro"):
        assert f"natsync/{pkg}/__init__.py" in in_wheel

    meta = _wheel_metadata(built.wheel)
    assert meta["Version"] == natsync.__version__
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    assert built.wheel.name.startswith(f"natsync-{natsync.__version__}-{tag}-{tag}")
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Requires-Python"] == ">=3.9"
    runtime = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    assert {r.name for r in runtime if r.marker is None} == RUNTIME_DEPS


def _closure(site_packages: Path, root: str) -> Set[str]:
    """Canonical names of *root* and everything it needs (no extras) in *site_packages*."""
    dists: Dict[str, importlib.metadata.Distribution] = {
        canonicalize_name(d.metadata["Name"]): d
        for d in importlib.metadata.distributions(path=[str(site_packages)])}
    seen: Set[str] = set()
    todo = [canonicalize_name(root)]
    while todo and len(seen) < 100:
        name = todo.pop()
        if name in seen:
            continue
        assert name in dists, f"{name} is required but not installed in the fresh venv"
        seen.add(name)
        for text in dists[name].requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def test_fresh_venv_holds_only_natsync_and_its_runtime_deps(built: Built) -> None:
    listing = json.loads(_run([sys.executable, "-m", "pip", "--python", str(built.venv_python),
                               "list", "--format=json", "--disable-pip-version-check"],
                              cwd=built.work))
    installed = {canonicalize_name(p["name"]): p["version"] for p in listing}
    assert installed["natsync"] == natsync.__version__
    expected = _closure(built.site_packages, "natsync")
    assert RUNTIME_DEPS | {"natsync"} <= expected
    assert set(installed) == expected, f"unexpected packages: {set(installed) ^ expected}"


_ROUND_TRIP = """
import importlib, importlib.metadata, importlib.resources, json, sys
import natsync, natsync.protocol
missing = {}
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        missing[name] = str(exc)
with natsync.connect(sys.argv[1]) as nc:
    sub = nc.subscribe("packaging.check")
    nc.publish("packaging.check", b"sent from the wheel")
    msg = sub.next_msg(timeout=5)
    nc.subscribe("packaging.echo", cb=lambda m: m.respond(m.data.upper()))
    reply = nc.request("packaging.echo", b"echo", timeout=5)
print(json.dumps({"data": msg.data.decode(), "reply": reply.data.decode(), "missing": missing,
                  "version": natsync.__version__,
                  "metadata": importlib.metadata.version("natsync"),
                  "file": natsync.__file__, "speedups": natsync.protocol.SPEEDUPS,
                  "typed": importlib.resources.files("natsync").joinpath("py.typed").is_file()}))
"""


def test_wheel_in_fresh_venv_round_trips_against_a_real_server(
        built: Built, nats_server: NatsServer) -> None:
    out = _run([str(built.venv_python), "-I", "-c", _ROUND_TRIP, nats_server.url,
                *_subpackages()], cwd=built.work, timeout=60)
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["data"] == "sent from the wheel"
    assert seen["reply"] == "ECHO"
    # Only the optional integrations may fail to import, and each must name its extra.
    assert set(seen["missing"]) == set(_NEEDS_EXTRA), seen["missing"]
    for name, extra in _NEEDS_EXTRA.items():
        assert f"natsync[{extra}]" in seen["missing"][name]
    assert Path(seen["file"]).resolve().is_relative_to(built.site_packages.resolve())
    assert seen["typed"] is True
    assert seen["speedups"] is True, "the wheel's compiled parser scan did not load"
    assert seen["version"] == seen["metadata"] == _wheel_metadata(built.wheel)["Version"]


def test_installed_cli_reports_the_same_version(built: Built) -> None:
    script = built.venv_python.parent / ("natsync.exe" if os.name == "nt" else "natsync")
    out = _run([str(script), "--version"], cwd=built.work, timeout=60)
    assert out.strip() == f"natsync {natsync.__version__}"
