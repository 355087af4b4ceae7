"""The Slither gate of `make lint` (scripts/slither_gate.py): what it lets through and what it
refuses, on reports shaped like Slither's JSON (Slither itself runs in `make lint`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_gate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slither_gate", ROOT / "scripts" / "slither_gate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["slither_gate"] = module
    spec.loader.exec_module(module)
    return module


gate = _load_gate()


def _function(contract: str, name: str) -> dict[str, Any]:
    parent = {"type": "contract", "name": contract}
    return {"type": "function", "name": name, "type_specific_fields": {"parent": parent}}


def _report(*results: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "success": True,
        "error": None,
        "results": {
            "detectors": [
                {"check": check, "impact": "Low", "description": f"{check} finding", "elements": [element]}
                for check, element in results
            ]
        },
    }


def test_findings_are_keyed_by_contract_function_and_variable() -> None:
    local = {"type": "variable", "name": "count", "type_specific_fields": {"parent": _function("C", "f")}}
    findings = gate.read_findings(_report(("timestamp", _function("C", "g")), ("uninitialized-local", local)))
    assert [f.where for f in findings] == ["C.g", "C.f.count"]


def test_a_finding_without_a_triage_row_fails_the_gate() -> None:
    findings = gate.read_findings(_report(("timestamp", _function("C", "g")), ("timestamp", _function("C", "h"))))
    failures, lines = gate.judge(findings, {("timestamp", "C.g"): 1})
    assert failures == 1 and "UNTRIAGED low `timestamp` at `C.h`" in lines[0]


def test_more_findings_in_one_place_than_the_row_allows_fail_the_gate() -> None:
    findings = gate.read_findings(_report(*[("calls-loop", _function("C", "loop"))] * 3))
    failures, lines = gate.judge(findings, {("calls-loop", "C.loop"): 2})
    assert failures == 1 and lines == ["NEW calls-loop at C.loop: 3 findings, the triage allows 2"]


def test_a_row_whose_finding_is_gone_is_reported_stale_without_failing() -> None:
    failures, lines = gate.judge([], {("timestamp", "C.g"): 1})
    assert failures == 0 and lines == ["stale triage row: timestamp at C.g expects 1, found 0"]


def test_a_failed_slither_run_is_refused() -> None:
    with pytest.raises(SystemExit, match="slither failed"):
        gate.read_findings({"success": False, "error": "compilation failed", "results": {}})


def test_a_triage_row_without_a_reason_is_refused(tmp_path: Path) -> None:
    triage = tmp_path / "triage.md"
    triage.write_text("| `timestamp` | `C.g` | 1 |  |\n")
    with pytest.raises(SystemExit, match="gives no reason"):
        gate.read_triage(triage)


def test_the_project_triage_covers_exactly_the_reported_places() -> None:
    allowed = gate.read_triage(gate.TRIAGE)
    assert len(allowed) == 28 and sum(allowed.values()) == 32
    assert all(not where.startswith(("DataNotary.", "BN254.")) for _, where in allowed)
