"""A terminal progress bar for object puts and gets (standard library only)."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Optional, TextIO

from .output import size


class ProgressBar:
    """`progress(done, total)` for ObjectStore.put/get, redrawn on one line at most 10 times a second."""

    def __init__(self, label: str, stream: Optional[TextIO] = None,
                 width: Optional[int] = None, interval: float = 0.1) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interval = interval
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._done = 0
        self._total: Optional[int] = None
        self._drawn = False

    def __call__(self, done: int, total: Optional[int]) -> None:
        self._done, self._total = done, total
        now = time.monotonic()
        if now - self._last_draw >= self.interval or (total is not None and done >= total):
            self._last_draw = now
            self._draw(now)

    def render(self, now: Optional[float] = None) -> str:
        """The bar's text for the current state."""
        elapsed = max((now if now is not None else time.monotonic()) - self._start, 1e-6)
        rate = f"{size(self._done / elapsed)}/s"
        columns = self.width or shutil.get_terminal_size((80, 20)).columns
        if self._total:
            fraction = min(self._done / self._total, 1.0)
            tail = f" {fraction * 100:5.1f}%  {size(self._done)} / {size(self._total)}  {rate}"
            room = max(columns - len(self.label) - len(tail) - 4, 10)
            filled = int(room * fraction)
            return f"{self.label} [{'#' * filled}{'.' * (room - filled)}]{tail}"
        return f"{self.label}  {size(self._done)}  {rate}"

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.render(now) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        """Draw the final state and end the line."""
        self._draw(time.monotonic())
        self.stream.write("\n")
        self.stream.flush()
