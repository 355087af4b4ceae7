"""Waiting in tests for something another process or thread does, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float, what: str, poll: float = 0.1) -> object:
    """The first true value `condition` gives within `timeout` seconds; an AssertionError naming
    `what` if it gives none."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(poll)
    raise AssertionError(f"not within {timeout}s: {what}")
