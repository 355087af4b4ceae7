"""Compiles `contracts/` with solc through py-solc-x and caches the artifacts in `build/`.

A native `solc` on PATH is preferred; without one, `scripts/solc` presents the npm solc package
(solcjs) as a native binary. Artifacts are reused while a hash of the sources, the imported
library version, the compiler version and the settings stays the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
import solcx.wrapper
from solcx.exceptions import SolcError

from ledger_service.core.errors import ToolchainError
from ledger_service.core.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

CONTRACTS_DIR = PROJECT_ROOT / "contracts"
NODE_MODULES = PROJECT_ROOT / "node_modules"
SHIM = PROJECT_ROOT / "scripts" / "solc"
EVM_VERSION = "shanghai"
COMPILER_SETTINGS: dict[str, Any] = {
    "evmVersion": EVM_VERSION,
    "optimizer": {"enabled": True, "runs": 200},
    "remappings": ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"],
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]}},
}


@dataclass(frozen=True)
class Artifact:
    """A compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    metadata: str

    @property
    def bytecode_hash(self) -> str:
        """A hash of the creation code, which names this build of the contract."""
        return "0x" + hashlib.sha256(bytes.fromhex(self.bytecode.removeprefix("0x"))).hexdigest()


def find_solc(configured: Path | None = None) -> Path:
    """Returns the solc to use: the configured one, a native solc on PATH, or the npm shim."""
    if configured is not None:
        return configured
    native = shutil.which("solc")
    if native and Path(native).resolve() != SHIM.resolve():
        return Path(native)
    if not (NODE_MODULES / "solc").is_dir():
        raise ToolchainError("no solc found: install a native solc or run `npm ci` for the npm one")
    return SHIM


def _sources(contracts_dir: Path) -> dict[str, str]:
    files = sorted(contracts_dir.rglob("*.sol"))
    if not files:
        raise ToolchainError(f"no Solidity sources under {contracts_dir}")
    return {"contracts/" + path.relative_to(contracts_dir).as_posix(): path.read_text() for path in files}


def _library_version() -> str:
    package = NODE_MODULES / "@openzeppelin" / "contracts" / "package.json"
    if not package.exists():
        raise ToolchainError("@openzeppelin/contracts is not installed: run `npm ci`")
    return str(json.loads(package.read_text())["version"])


def _cache_key(sources: dict[str, str], compiler_version: str) -> str:
    digest = hashlib.sha256()
    payload = {
        "sources": sources,
        "compiler": compiler_version,
        "settings": COMPILER_SETTINGS,
        "openzeppelin": _library_version(),
    }
    digest.update(json.dumps(payload, sort_keys=True).encode())
    return digest.hexdigest()


class Compiler:
    """Compiles the project's contracts into `build_dir`, reusing a matching cache."""

    def __init__(self, build_dir: Path, solc: Path | None = None, contracts_dir: Path = CONTRACTS_DIR) -> None:
        self.build_dir = build_dir
        self.solc = solc or find_solc()
        self.contracts_dir = contracts_dir

    @property
    def _artifact_dir(self) -> Path:
        return self.build_dir / "contracts"

    @property
    def _key_file(self) -> Path:
        return self.build_dir / "cache-key"

    def compile(self, force: bool = False) -> tuple[dict[str, Artifact], bool]:
        """Returns the artifacts by contract name and whether solc actually ran."""
        sources = _sources(self.contracts_dir)
        version = solcx.wrapper.get_version_str_from_solc_binary(self.solc)
        key = _cache_key(sources, version)
        if not force and self._key_file.exists() and self._key_file.read_text() == key:
            log.debug("contracts unchanged, using cached artifacts", extra={"cache_key": key})
            return self.load(), False

        log.info("compiling contracts", extra={"solc": str(self.solc), "version": version, "files": len(sources)})
        standard_input = {
            "language": "Solidity",
            "sources": {name: {"content": text} for name, text in sources.items()},
            "settings": COMPILER_SETTINGS,
        }
        try:
            output = solcx.compile_standard(
                standard_input,
                base_path=PROJECT_ROOT,
                allow_paths=[NODE_MODULES],
                solc_binary=self.solc,
            )
        except SolcError as exc:
            raise ToolchainError(f"solc failed:\n{exc.message}") from exc

        artifacts: dict[str, Artifact] = {}
        for source_name in sources:
            for name, data in output["contracts"].get(source_name, {}).items():
                artifacts[name] = Artifact(
                    name=name,
                    abi=data["abi"],
                    bytecode="0x" + data["evm"]["bytecode"]["object"],
                    deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
                    metadata=data["metadata"],
                )
        self._write(artifacts, key)
        return artifacts, True

    def _write(self, artifacts: dict[str, Artifact], key: str) -> None:
        if self._artifact_dir.exists():
            shutil.rmtree(self._artifact_dir)
        self._artifact_dir.mkdir(parents=True)
        for artifact in artifacts.values():
            record = {
                "contractName": artifact.name,
                "abi": artifact.abi,
                "bytecode": artifact.bytecode,
                "deployedBytecode": artifact.deployed_bytecode,
                "metadata": artifact.metadata,
            }
            (self._artifact_dir / f"{artifact.name}.json").write_text(json.dumps(record, indent=1))
        self._key_file.write_text(key)

    def load(self) -> dict[str, Artifact]:
        """Reads the cached artifacts."""
        return load_artifacts(self.build_dir)


def load_artifacts(build_dir: Path) -> dict[str, Artifact]:
    """The artifacts compiled into `build_dir` (by this project, here or on another machine), read
    without a compiler: what an edge gateway installed without Node.js and solc uses."""
    artifacts = {}
    for path in sorted((build_dir / "contracts").glob("*.json")):
        record = json.loads(path.read_text())
        artifacts[record["contractName"]] = Artifact(
            name=record["contractName"],
            abi=record["abi"],
            bytecode=record["bytecode"],
            deployed_bytecode=record["deployedBytecode"],
            metadata=record["metadata"],
        )
    return artifacts


def compile_contracts(build_dir: Path, solc: Path | None = None, force: bool = False) -> dict[str, Artifact]:
    """Compiles (or loads from cache) the project's contracts."""
    artifacts, _ = Compiler(build_dir, solc=find_solc(solc)).compile(force=force)
    return artifacts
