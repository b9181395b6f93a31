"""Waiting on a condition with a deadline, instead of sleeping and hoping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The condition did not hold before the deadline; carries the last failure."""

    def __init__(self, what: str, seconds: float, last_error: BaseException | None) -> None:
        detail = f": {last_error}" if last_error else ""
        super().__init__(f"{what} not ready after {seconds:.0f}s{detail}")
        self.last_error = last_error


def wait_for(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float = 0.25,
    abort: Callable[[], str | None] | None = None,
) -> T:
    """Call `probe` until it returns a value other than None/False, or time runs out.

    Exceptions from the probe count as "not yet" and the last one is reported.
    `abort` lets a caller stop early with a reason (e.g. the process died).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
        except Exception as error:  # noqa: BLE001 - any failure of a probe means "not ready yet"
            last_error = error
            result = None
        if result is not None and result is not False:
            return result
        if abort is not None and (reason := abort()) is not None:
            raise DeadlineExceeded(what, 0, RuntimeError(reason))
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(what, timeout, last_error)
        time.sleep(interval)
