"""examples/notebook_tour.ipynb runs top to bottom in a real Jupyter kernel (one that
already runs an event loop) against a real server, and shows what it should."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, List

import nbformat
import pytest
from nbclient import NotebookClient

from natsync.testing import NatsServer

from .conftest import EXAMPLES
from .docblocks import first_python_block


def _kernel_for_this_python(root: Path) -> None:
    """A "python3" kernelspec that runs this interpreter (the venv's ipykernel), found
    first through JUPYTER_PATH whatever other python3 kernels the machine has."""
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "natsync test kernel", "language": "python"}))


def _outputs(nb: Any) -> tuple[str, List[str]]:
    """All printed text, and every HTML rich display, of an executed notebook."""
    text: List[str] = []
    pages: List[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                text.append(out["text"])
            elif out["output_type"] == "error":
                raise AssertionError(f"{out['ename']}: {out['evalue']}")
            elif "text/html" in out.get("data", {}):
                pages.append(out["data"]["text/html"])
    return "".join(text), pages


def _run(nb: Any, server: NatsServer, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> tuple[str, List[str]]:
    """Execute `nb` in a fresh kernel of this python with NATS_URL set; its outputs."""
    _kernel_for_this_python(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("NATS_URL", server.url)
    NotebookClient(nb, kernel_name="python3", timeout=60, startup_timeout=60,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return _outputs(nb)


def test_notebook_tour_runs_in_a_kernel(nats_server: NatsServer, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(EXAMPLES / "notebook_tour.ipynb", as_version=4)
    text, pages = _run(nb, nats_server, tmp_path, monkeypatch)
    for phrase in (f"Using your server at {nats_server.url}",
                   "connected: True",
                   "event loop running: True",
                   "asyncio.run() says: asyncio.run() cannot be called from a running event loop",
                   "reply: b'SHOUT'",
                   "watched: <Entry tour/'color' revision=1 PUT value=b'blue'>",
                   "watched: <Entry tour/'color' revision=2 PUT value=b'green'>",
                   "watched: <Entry tour/'color' revision=3 DEL>",
                   "fetched: ['order 0', 'order 1', 'order 2']",
                   "closed: True"):
        assert phrase in text, f"{phrase!r} not in:\n{text}"
    msg_page, entry_page, stream_page, stats_page = pages
    assert "tour.hello" in msg_page and "&lt;hello&gt; from a notebook" in msg_page
    assert "<hello>" not in msg_page and "lang" in msg_page
    assert "green" in entry_page
    assert "StreamInfo" in stream_page and "TOUR" in stream_page
    assert "<td>echo</td><td>echo</td><td>q</td><td>2</td><td>0</td>" in stats_page


def test_docs_minimal_setup_runs_in_a_kernel(nats_server: NatsServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        first_python_block("jupyter.md")), nbformat.v4.new_code_cell("nc.close()")])
    text, pages = _run(nb, nats_server, tmp_path, monkeypatch)
    assert text == "greet.joe b'hello'\n"
    (page,) = pages
    assert "greet.joe" in page and "hello" in page
