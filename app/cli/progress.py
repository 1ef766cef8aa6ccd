"""A text progress bar for the CLI's long runs (``costmux demo``, ``costmux eval``)."""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """A text progress bar on ``stream`` (stderr): redrawn in place on a terminal; elsewhere (logs, pipes) a line
    at each tenth, so captured output stays short."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.label, self.total, self.done, self._shown = "", 0, 0, -1

    def start(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self._shown = label, total, 0, -1
        self._draw()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._draw()

    def _draw(self) -> None:
        tenth = self.done * 10 // max(self.total, 1)
        if not self.tty and tenth == self._shown:
            return
        self._shown = tenth
        filled = self.done * self.width // max(self.total, 1)
        bar = f"{self.label:34s} [{'#' * filled}{'.' * (self.width - filled)}] {self.done:3d}/{self.total}"
        end = "\n" if not self.tty or self.done >= self.total else ""
        self.stream.write(("\r" if self.tty else "") + bar + end)
        self.stream.flush()
