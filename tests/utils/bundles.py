"""Proof bundles changed on purpose, for the tests that check a verifier catches each change."""

from __future__ import annotations

import copy
from typing import Any


def tampered(bundle: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `bundle` with the value at dotted `path` (list indexes as numbers) replaced."""
    changed = copy.deepcopy(bundle)
    *parents, last = path.split(".")
    target: Any = changed
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[int(last) if last.isdigit() else last] = value
    return changed
