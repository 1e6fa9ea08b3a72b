"""`Scoped`: a test server or cluster as a with block (start on entry, close on exit)."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Any, TypeVar

_S = TypeVar("_S", bound="Scoped")


class Scoped(abc.ABC):
    """Entering starts it unless it already runs (closing it again if that fails); leaving closes it."""

    @abc.abstractmethod
    def start(self) -> Any:
        """Start the process(es)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the process(es) and remove what they left on disk."""

    @property
    def running(self) -> bool:
        """Whether start() has nothing left to do; a with block then only closes."""
        return False

    def __enter__(self: _S) -> _S:
        if not self.running:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
