"""Settings for the tests."""

from __future__ import annotations

from pathlib import Path

from ledger_service.core.settings import Settings


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test, ignoring the developer's environment and .env."""
    return Settings(_env_file=None, data_dir=data_dir, **overrides)  # type: ignore[call-arg]
