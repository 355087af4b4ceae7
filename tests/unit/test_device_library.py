"""provenance_device, the device-side library: its own Keccak, EIP-712 encoding and keys agree with
the service's (a second implementation checked against the first), it imports with nothing but
coincurve and cryptography, and its outbox never gives a sequence out twice."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from Crypto.Hash import keccak as reference_keccak

from ledger_service.core import keys as core_keys
from ledger_service.core.enums import KeyType
from ledger_service.core.readings import Domain as CoreDomain
from ledger_service.core.readings import Reading as CoreReading
from provenance_device import P256, SECP256K1, DeviceKey, Domain, InvalidKey, InvalidReading, Outbox, Reading
from provenance_device.keccak import pure_keccak256
from provenance_device.mqtt import client_id

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.mark.parametrize("size", [0, 1, 55, 56, 135, 136, 137, 271, 272, 273, 1000])
def test_pure_keccak_is_keccak256_at_every_padding_boundary(size: int) -> None:
    data = random.Random(size).randbytes(size)
    assert pure_keccak256(data) == reference_keccak.new(data=data, digest_bits=256).digest()


def test_pure_keccak_gives_the_known_empty_hash() -> None:
    assert pure_keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def random_reading(rng: random.Random) -> tuple[Reading, CoreReading]:
    fields = {
        "device_id": rng.randbytes(32),
        "sequence": rng.randrange(2**63),
        "timestamp": rng.randrange(2**63),
        "metric": "".join(rng.choice("abcxyzé_🌡") for _ in range(rng.randint(1, 64))),
        "value": rng.randrange(-(2**255), 2**255),
        "scale": rng.randrange(-128, 128),
        "unit": "".join(rng.choice("Cel%°") for _ in range(rng.randint(0, 32))),
        "payload_hash": rng.randbytes(32),
    }
    return Reading(**fields), CoreReading(**fields)


def test_digests_and_bodies_are_the_services_for_random_readings() -> None:
    rng = random.Random(7)
    for chain_id in (1, 31337, 2**256 - 1):
        domain, core_domain = Domain(chain_id, REGISTRY), CoreDomain(chain_id, REGISTRY)
        for _ in range(30):
            mine, theirs = random_reading(rng)
            assert mine.digest(domain) == theirs.digest(core_domain)
            assert mine.body(b"\x01" * 65) == json.loads(json.dumps(mine.body(b"\x01" * 65)))
            assert Reading.from_body(mine.body(b"")) == mine


@pytest.mark.parametrize("key_type", [SECP256K1, P256])
def test_signatures_verify_under_the_services_key_check(key_type: str) -> None:
    key = DeviceKey.generate(key_type)
    public = core_keys.PublicKey.from_json(key.public)
    domain = Domain(31337, REGISTRY)
    for reading, _ in (random_reading(random.Random(n)) for n in range(20)):
        digest = reading.digest(domain)
        signature = key.sign(digest)
        assert public.verify(digest, signature)
        assert not public.verify(bytes(32), signature)
    assert not core_keys.PublicKey.from_json(DeviceKey.generate(key_type).public).verify(digest, signature)


@pytest.mark.parametrize("key_type", [KeyType.SECP256K1, KeyType.P256])
def test_key_files_are_shared_with_the_service_both_ways(tmp_path: Path, key_type: KeyType) -> None:
    written_by_service = core_keys.DeviceKey.generate(key_type)
    written_by_service.save(tmp_path / "service.key")
    loaded = DeviceKey.load(tmp_path / "service.key")
    assert loaded.secret == written_by_service.secret
    assert core_keys.PublicKey.from_json(loaded.public) == written_by_service.public_key
    mine = DeviceKey.generate(key_type.label)
    mine.save(tmp_path / "device.key")
    assert core_keys.DeviceKey.load(tmp_path / "device.key").secret == mine.secret
    assert oct((tmp_path / "device.key").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(FileExistsError):
        mine.save(tmp_path / "device.key")


def test_a_key_file_whose_public_key_is_another_is_refused(tmp_path: Path) -> None:
    data = DeviceKey.generate().to_json()
    data["public"] = DeviceKey.generate().public
    (tmp_path / "k").write_text(json.dumps(data))
    with pytest.raises(InvalidKey, match="does not match"):
        DeviceKey.load(tmp_path / "k")
    (tmp_path / "k").write_text("{}")
    with pytest.raises(InvalidKey, match="not a device key file"):
        DeviceKey.load(tmp_path / "k")
    with pytest.raises(InvalidKey):
        DeviceKey(SECP256K1, 0)


@pytest.mark.parametrize(
    "change",
    [
        {"metric": ""},
        {"metric": "m" * 65},
        {"unit": "u" * 33},
        {"sequence": -1},
        {"sequence": 2**63},
        {"value": 2**255},
        {"scale": 128},
        {"device_id": b"\x01" * 31},
        {"payload_hash": b""},
    ],
)
def test_a_reading_the_service_would_refuse_is_not_built(change: dict[str, object]) -> None:
    fields: dict[str, object] = {"device_id": b"\x01" * 32, "sequence": 1, "timestamp": 1, "metric": "t", "value": 1}
    with pytest.raises(InvalidReading):
        Reading(**{**fields, **change})  # type: ignore[arg-type]


def test_the_library_imports_with_only_coincurve_and_cryptography(tmp_path: Path) -> None:
    """Any third-party import besides coincurve and cryptography (and their cffi) fails in the child."""
    script = f"""
import importlib.abc, sys
BEFORE = set(sys.modules)
ALLOWED = {{"coincurve", "cryptography", "cffi", "_cffi_backend", "provenance_device"}}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top not in sys.stdlib_module_names and top not in ALLOWED:
            raise ImportError(f"blocked: {{name}}")
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(ROOT)!r})
import pkgutil, importlib, provenance_device
for module in pkgutil.iter_modules(provenance_device.__path__):
    importlib.import_module("provenance_device." + module.name)
from provenance_device import DeviceKey, Domain, Reading, keccak256
from provenance_device.keccak import pure_keccak256
from provenance_device.mqtt import client_id
assert keccak256 is pure_keccak256, "the pure Keccak is used where pycryptodome is missing"
key = DeviceKey.generate("p256")
reading = Reading(b"\\x01" * 32, 1, 1, "t", 1)
print(key.sign(reading.digest(Domain(1, "{REGISTRY}"))).hex())
import json
print(json.dumps(sorted(m for m in set(sys.modules) - BEFORE if m.split(".")[0] not in sys.stdlib_module_names)))
"""
    command = [sys.executable, "-I", "-c", script]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    signature, modules = done.stdout.splitlines()
    assert len(bytes.fromhex(signature)) == 64
    compiled_parts = {"_openssl", "_libsecp256k1"}  # cryptography's and coincurve's C modules, by those names
    allowed = {"coincurve", "cryptography", "cffi", "_cffi_backend", "provenance_device"} | compiled_parts
    assert {m.split(".")[0] for m in json.loads(modules)} <= allowed


def test_the_outbox_never_gives_a_sequence_twice_across_restarts_and_failures(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", first_sequence=5)
    assert [outbox.add(lambda s: {"sequence": s})["sequence"] for _ in range(3)] == [5, 6, 7]

    def broken(sequence: int) -> dict[str, object]:
        raise RuntimeError("the signer failed")

    with pytest.raises(RuntimeError):
        outbox.add(broken)
    outbox.confirm([5])
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.db", first_sequence=0)
    assert reopened.next_sequence == 8
    assert [b["sequence"] for b in reopened.pending(10)] == [6, 7]
    reopened.refuse(6, "sequence-not-increasing", "why")
    assert reopened.refused() == [(6, "sequence-not-increasing", "why")]
    assert [b["sequence"] for b in reopened.pending(10)] == [7] and len(reopened) == 1
    reopened.close()


def test_devices_whose_ids_share_a_prefix_get_their_own_mqtt_client_ids() -> None:
    ids = ["0x" + "00" * 12 + DeviceKey.generate().public["address"][2:] for _ in range(50)]
    assert len({client_id(device) for device in ids}) == 50
    assert all(len(client_id(device)) <= 23 for device in ids)
    assert client_id(ids[0].upper().replace("0X", "0x")) == client_id(ids[0])
