"""The custom error a reverted transaction names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ledger_service.core.errors import TransactionReverted


def error_of(call: Callable[[], Any]) -> str | None:
    """The custom error a transaction reverts with."""
    with pytest.raises(TransactionReverted) as info:
        call()
    return info.value.context["error"]
