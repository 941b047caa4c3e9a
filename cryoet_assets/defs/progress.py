"""Progress of tomogram conversions: a few lines per tomogram in the run's event log, and their parser."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import NamedTuple

STEPS_PER_TOMOGRAM = 4
_MESSAGE = re.compile(r"^(?P<source>.+): (?P<done>\d+)/(?P<total>\d+) planes written$")


class PlaneProgress(NamedTuple):
    source: str
    done: int
    total: int


def progress_message(source: str, done: int, total: int) -> str:
    return f"{source}: {done}/{total} planes written"


def parse_progress(message: str | None) -> PlaneProgress | None:
    """The progress a `progress_message` line reports, or None for any other message."""
    match = _MESSAGE.match(message or "")
    if not match:
        return None
    return PlaneProgress(match["source"], int(match["done"]), int(match["total"]))


class ThrottledProgress:
    """Logs a tomogram's planes written when it passes each quarter of them: at most 4 lines per tomogram.

    Called from the conversion's MRC thread (see `convert_tomogram`), hence the lock.
    """

    def __init__(self, log: Callable[[str], None], *, steps: int = STEPS_PER_TOMOGRAM) -> None:
        self._log = log
        self._steps = steps
        self._reached: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, source: str, done: int, total: int) -> None:
        step = self._steps if total <= 0 else min(self._steps, done * self._steps // total)
        with self._lock:
            if step <= self._reached.get(source, 0):
                return
            self._reached[source] = step
            self._log(progress_message(source, done, total))
