"""External services the tests use (PostgreSQL, Redis, Mosquitto, js-ipfs): a test whose service is missing
is skipped, except under CI=true, where it fails."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(name: str, reason: str) -> None:
    """Skips a test whose service is missing, except under CI=true, where it fails."""
    message = f"{name} is not reachable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: services must be running)")
    pytest.skip(message)
