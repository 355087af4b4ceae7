"""Every test the threat model names exists: a guarantee whose test was renamed or removed would
otherwise go on being listed as held."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THREAT_MODEL = ROOT / "docs" / "threat-model.md"
#: `file.py::test_name`, `tests/forge/File.t.sol::name`, and `::name` continuing the previous file.
REFERENCE = re.compile(r"`((?:tests/forge/)?[\w.]+\.(?:py|sol))?::(\w+)`")


def referenced_tests(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    current = ""
    for match in REFERENCE.finditer(text):
        current = Path(match.group(1)).name if match.group(1) else current
        found.append((current, match.group(2)))
    return found


def defined(file_name: str, test_name: str) -> bool:
    pattern = re.compile(rf"^\s*(?:def|function)\s+{test_name}\s*\(", re.M)
    return any(pattern.search(path.read_text()) for path in (ROOT / "tests").rglob(file_name))


def test_every_test_the_threat_model_names_exists() -> None:
    references = referenced_tests(THREAT_MODEL.read_text())
    assert len(references) > 80
    missing = [f"{file}::{name}" for file, name in references if not defined(file, name)]
    assert missing == []


def test_a_renamed_test_is_noticed() -> None:
    assert defined("test_trust.py", "test_documented_json_rpc_walkthrough_verifies_a_bundle")
    assert not defined("test_trust.py", "test_documented_json_rpc_walkthrough_verifies_a_bundle_renamed")
    assert referenced_tests("`a.py::x`, `::y` and `tests/forge/B.t.sol::z`") == [
        ("a.py", "x"),
        ("a.py", "y"),
        ("B.t.sol", "z"),
    ]
