"""The README documents every setting."""

from __future__ import annotations

from pathlib import Path

from ledger_service.core.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    for name in Settings.model_fields:
        assert f"`PROVENANCE_{name.upper()}`" in README, f"PROVENANCE_{name.upper()} is not documented"
