"""Runs Slither on contracts/ and fails on any finding that docs/slither-triage.md does not explain.

    python scripts/slither_gate.py [--slither .tools/slither/bin/slither] [--json OUT]

Slither builds through Foundry (foundry.toml, profile `slither`: the solc shim, offline, its own
build folders) with the settings in slither.config.json: medium, low and high findings in our
contracts; OpenZeppelin's (node_modules) are filtered out and explained in the triage file.

Each finding is keyed by its detector and where it is: `Contract.function` (or
`Contract.function.variable` for a local variable). docs/slither-triage.md has one table row per
key with the number of findings expected there and the reason they stand. The gate fails when a
finding has no row, or when a row's place holds more findings than the row allows; a row whose
findings are gone is reported as stale (the code was fixed: delete the row).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRIAGE = ROOT / "docs" / "slither-triage.md"
FORGE_BIN = ROOT / "node_modules" / "@foundry-rs" / "forge-linux-amd64" / "bin"
ROW = re.compile(r"^\|\s*`(?P<check>[a-z0-9-]+)`\s*\|\s*`(?P<where>[^`]+)`\s*\|\s*(?P<count>\d+)\s*\|(?P<why>.+)\|\s*$")


@dataclass(frozen=True)
class Finding:
    check: str
    impact: str
    where: str
    description: str


def where_of(element: dict[str, Any]) -> str:
    """`Contract.function[.variable]` for the element a finding is about."""
    names = [str(element.get("name", "?"))]
    parent = element.get("type_specific_fields", {}).get("parent")
    while isinstance(parent, dict):
        names.append(str(parent.get("name", "?")))
        parent = parent.get("type_specific_fields", {}).get("parent")
    return ".".join(reversed(names))


def read_findings(report: dict[str, Any]) -> list[Finding]:
    if not report.get("success"):
        raise SystemExit(f"slither failed: {report.get('error')}")
    found = []
    for result in report.get("results", {}).get("detectors", []):
        elements = result.get("elements") or [{}]
        found.append(
            Finding(
                check=result["check"],
                impact=result["impact"],
                where=where_of(elements[0]),
                description=result["description"].strip(),
            )
        )
    return found


def read_triage(path: Path) -> dict[tuple[str, str], int]:
    allowed: dict[tuple[str, str], int] = {}
    for line in path.read_text().splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        if not match["why"].strip():
            raise SystemExit(f"{path.name}: the row for {match['check']} at {match['where']} gives no reason")
        allowed[(match["check"], match["where"])] = int(match["count"])
    return allowed


def run_slither(slither: str, out: Path) -> dict[str, Any]:
    env = dict(os.environ, FOUNDRY_PROFILE="slither", PATH=f"{FORGE_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    command = [slither, ".", "--config-file", "slither.config.json", "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if not out.exists() or out.stat().st_size == 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"slither wrote no report (exit {done.returncode})")
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def judge(findings: list[Finding], allowed: dict[tuple[str, str], int]) -> tuple[int, list[str]]:
    """The number of findings the triage does not cover, and the lines that report them (and stale rows)."""
    counts = Counter((f.check, f.where) for f in findings)
    failures = 0
    lines = []
    for finding in findings:
        if (finding.check, finding.where) not in allowed:
            failures += 1
            impact = finding.impact.lower()
            lines.append(f"UNTRIAGED {impact} `{finding.check}` at `{finding.where}`:\n  {finding.description}\n")
    for key, count in sorted(counts.items()):
        if key in allowed and count > allowed[key]:
            failures += count - allowed[key]
            lines.append(f"NEW {key[0]} at {key[1]}: {count} findings, the triage allows {allowed[key]}")
    for key, count in sorted(allowed.items()):
        if counts.get(key, 0) < count:
            lines.append(f"stale triage row: {key[0]} at {key[1]} expects {count}, found {counts.get(key, 0)}")
    return failures, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slither", default=str(ROOT / ".tools" / "slither" / "bin" / "slither"))
    parser.add_argument("--json", type=Path, help="keep Slither's JSON report here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = args.json or Path(tmp) / "slither.json"
        out.unlink(missing_ok=True)
        findings = read_findings(run_slither(args.slither, out))
    failures, lines = judge(findings, read_triage(TRIAGE))
    for line in lines:
        print(line)
    where = TRIAGE.relative_to(ROOT)
    triaged = len(findings) - failures
    print(f"slither: {len(findings)} findings in contracts/, {triaged} triaged in {where}, {failures} not")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
