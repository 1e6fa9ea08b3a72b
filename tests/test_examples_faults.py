"""examples/test_network_faults.py is a pytest module users copy: it passes as one."""

from __future__ import annotations

import subprocess
import sys

from .conftest import EXAMPLES


def test_network_faults_example_passes_under_pytest() -> None:
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(EXAMPLES / "test_network_faults.py")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed" in out.stdout, out.stdout
