"""`make test-interp`'s list of what each missing package rules out (tests/interp_deps.py)."""

from __future__ import annotations

import ast

from . import interp_deps
from .interp_deps import COMPLETE, NEEDS, ROOT


def test_every_test_it_can_leave_out_exists() -> None:
    # Read, not imported: where the list is used, these modules cannot be imported.
    for test in sorted({test for tests in NEEDS.values() for test in tests} | {COMPLETE}):
        path, _, name = test.partition("::")
        assert (ROOT / path).is_file(), test
        if name:
            tree = ast.parse((ROOT / path).read_text())
            defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
            assert name.partition("[")[0] in defined, test


def test_the_dev_venv_leaves_nothing_out() -> None:
    assert interp_deps.excluded() == {}
    assert interp_deps.pytest_args({}) == []


def test_modules_are_ignored_and_single_tests_deselected_once_each() -> None:
    missing = {name: NEEDS[name] for name in ("nkeys", "trustme")}
    args = interp_deps.pytest_args(missing)
    assert args[0] == f"--deselect={COMPLETE}"
    assert args.count("--ignore=tests/test_auth_tls.py") == 1
    assert "--ignore=tests/test_websocket.py" in args
    assert ("--deselect=tests/test_cli.py::test_auth_and_tls_flags") in args
    assert not any("gevent" in arg for arg in args)


def test_the_requirements_come_from_setup_cfg() -> None:
    reqs = interp_deps.requirements()
    assert reqs[:2] == ["nkeys>=0.2", "certifi"]
    assert "pytest>=7" in reqs and "gevent" in reqs
