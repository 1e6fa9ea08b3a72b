"""How the parent runs the nats.js worker (bench/js/worker.mjs): availability and commands.

The worker needs ``node`` on the PATH and the ``nats`` package installed under bench/js/
(``npm ci --prefix bench/js``, which ``make bench`` runs when npm exists). It lists the
scenario implementations it has with ``--list``, so the parent asks it rather than keeping
a second list here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional, Set

JS_DIR = Path(__file__).resolve().parent / "js"
WORKER = JS_DIR / "worker.mjs"


def unavailable_reason() -> Optional[str]:
    """Why the nats.js worker cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (JS_DIR / "node_modules" / "nats" / "package.json").exists():
        return "the nats package is not installed (run: npm ci --prefix bench/js)"
    return None


def implemented() -> Set[str]:
    """The implementation names the worker has (``Scenario.impl_name`` values)."""
    out = subprocess.run(["node", str(WORKER), "--list"], capture_output=True, timeout=30,
                         check=True)
    names = json.loads(out.stdout)
    return {str(n) for n in names}


def worker_cmd(impl_name: str, url: str, params_json: str, limit: float) -> List[str]:
    """Command line of one nats.js worker run (prints the same BENCH-RESULT line)."""
    return ["node", str(WORKER), "--scenario", impl_name, "--url", url,
            "--params", params_json, "--time-limit", str(limit)]


def responder_cmd(url: str, subject: str) -> List[str]:
    """Command line of a nats.js echo responder (READY / SERVED protocol of responder.py)."""
    return ["node", str(WORKER), "--responder", "--url", url, "--subject", subject]
