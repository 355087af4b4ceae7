"""The code's shape: modules of at most 300 lines (migrations aside) and functions of at most 60
lines outside the tests. The modules and functions still over the limits are listed here, so that
no new one appears and the list only shrinks (issue 14 asks for it to be empty)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger_service", "indexer", "oracles", "tokenization", "edge", "provenance_device")
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60

#: Still too long, to be split; a module leaves the list when it is. Empty: keep it so.
LONG_MODULES: set[str] = set()
LONG_FUNCTIONS: set[str] = set()


def sources() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.relative_to(ROOT).parts
    )


def long_modules() -> set[str]:
    return {str(path.relative_to(ROOT)) for path in sources() if len(path.read_text().splitlines()) > MAX_MODULE_LINES}


def long_functions() -> set[str]:
    found = set()
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    found.add(f"{path.relative_to(ROOT)}::{node.name}")
    return found


def test_no_module_grows_past_300_lines_and_the_long_list_only_shrinks() -> None:
    found = long_modules()
    assert found - LONG_MODULES == set(), "new modules over 300 lines"
    assert LONG_MODULES - found == set(), "split already: take these off LONG_MODULES"


def test_no_function_grows_past_60_lines_and_the_long_list_only_shrinks() -> None:
    found = long_functions()
    assert found - LONG_FUNCTIONS == set(), "new functions over 60 lines"
    assert LONG_FUNCTIONS - found == set(), "shortened already: take these off LONG_FUNCTIONS"
