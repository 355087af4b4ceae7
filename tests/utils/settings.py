"""Settings for the tests."""

from __future__ import annotations

from pathlib import Path

from ledger_service.core.settings import Settings


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test, ignoring the developer's environment and .env; new key stores use a
    light scrypt work factor (a test makes many)."""
    overrides.setdefault("keystore_scrypt_n", 2**10)
    return Settings(_env_file=None, data_dir=data_dir, **overrides)  # type: ignore[call-arg,arg-type]
