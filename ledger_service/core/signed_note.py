"""C2SP signed notes and tlog checkpoints with Ed25519 keys: signing, the verifier key format, and
opening a note with a pinned key (only what that key signed is trusted).

- A checkpoint's body: the origin line, the decimal tree size, the base64 root, each ending in a
  newline.
- A signed note: the body, a blank line, then signature lines `— NAME BASE64(key id || signature)`,
  the key id being the first 4 bytes of SHA-256(NAME || 0x0A || 0x01 || public key).
- A verifier key: `NAME+HEXID+BASE64(0x01 || public key)`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger_service.core.errors import InvalidFilter

_ALGORITHM_ED25519 = b"\x01"


def key_id(name: str, public: bytes) -> bytes:
    """A C2SP signed-note key id: the first 4 bytes of SHA-256(name, newline, 0x01, key)."""
    return hashlib.sha256(name.encode() + b"\n" + _ALGORITHM_ED25519 + public).digest()[:4]


def verifier_key(name: str, public: bytes) -> str:
    """The note verifier key others pin: `NAME+HEXID+BASE64(0x01 || key)`."""
    return f"{name}+{key_id(name, public).hex()}+{base64.b64encode(_ALGORITHM_ED25519 + public).decode()}"


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_note(body: str, name: str, key: Ed25519PrivateKey) -> str:
    """`body` as a signed note with one signature line."""
    public = key.public_key().public_bytes_raw()
    signature = key.sign(body.encode())
    return f"{body}\n— {name} {base64.b64encode(key_id(name, public) + signature).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def open_note(note: str, verifier: str) -> Checkpoint:
    """The checkpoint in `note` if a signature line verifies with the pinned `verifier` key
    (`NAME+HEXID+BASE64KEY`); `InvalidFilter` otherwise. Only what the key signed is trusted."""
    name, wanted_id, public_raw = parse_verifier_key(verifier)
    body, separator, signatures = note.partition("\n\n")
    body += "\n"
    if not separator:
        raise InvalidFilter("not a signed note: no blank line before the signatures")
    public = Ed25519PublicKey.from_public_bytes(public_raw)
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "—" or parts[1] != name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
            if blob[:4] == wanted_id:
                public.verify(blob[4:], body.encode())
                return _parse_body(body)
        except Exception:  # noqa: BLE001 - a bad signature line is skipped, like any other
            continue
    raise InvalidFilter(f"no signature by {name} verifies this note")


def parse_verifier_key(verifier: str) -> tuple[str, bytes, bytes]:
    """(name, key id, Ed25519 public key) of a verifier key; `InvalidFilter` if it is not one."""
    try:
        name, hex_id, encoded = verifier.split("+", 2)  # a name has no "+"; base64 may
        raw = base64.b64decode(encoded, validate=True)
        wanted_id = bytes.fromhex(hex_id)
    except ValueError as exc:
        raise InvalidFilter("not a note verifier key (NAME+HEXID+BASE64KEY)") from exc
    if raw[:1] != _ALGORITHM_ED25519 or len(raw) != 33 or key_id(name, raw[1:]) != wanted_id:
        raise InvalidFilter("the verifier key is not an Ed25519 key matching its id")
    return name, wanted_id, raw[1:]


def unverified_checkpoint(note: str) -> Checkpoint:
    """The checkpoint a note claims, its signatures not checked: for self-consistency only (a
    proof against it shows nothing until `open_note` verifies the note with a pinned key)."""
    body, separator, _ = note.partition("\n\n")
    if not separator:
        raise InvalidFilter("not a signed note: no blank line before the signatures")
    return _parse_body(body + "\n")


def _parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise InvalidFilter("not a checkpoint: origin, size and root lines expected")
    return Checkpoint(lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True))


# -- witness cosignatures (C2SP tlog-cosignature, cosignature/v1) ---------------------------------

_ALGORITHM_COSIGNATURE = b"\x04"


def cosigner_key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ALGORITHM_COSIGNATURE + public).digest()[:4]


def cosigner_verifier_key(name: str, public: bytes) -> str:
    """A witness's verifier key: `NAME+HEXID+BASE64(0x04 || key)`."""
    encoded = base64.b64encode(_ALGORITHM_COSIGNATURE + public).decode()
    return f"{name}+{cosigner_key_id(name, public).hex()}+{encoded}"


def _cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def cosign(note: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """`note` with a witness's cosignature line added: Ed25519 over `cosignature/v1`, the time and
    the checkpoint body; the line carries the key id, the time (8 bytes) and the signature."""
    body = note.partition("\n\n")[0] + "\n"
    public = key.public_key().public_bytes_raw()
    signature = key.sign(_cosigned_message(body, timestamp))
    blob = cosigner_key_id(name, public) + timestamp.to_bytes(8, "big") + signature
    return f"{note.rstrip(chr(10))}\n— {name} {base64.b64encode(blob).decode()}\n"


def cosigned_at(note: str, verifier: str) -> int:
    """The time the witness with verifier key `verifier` cosigned `note`; `InvalidFilter` when no
    cosignature of that key verifies."""
    name, hex_id, encoded = verifier.split("+", 2)
    raw = base64.b64decode(encoded)
    if raw[:1] != _ALGORITHM_COSIGNATURE or len(raw) != 33 or cosigner_key_id(name, raw[1:]).hex() != hex_id:
        raise InvalidFilter("not a witness verifier key")
    body, _, signatures = note.partition("\n\n")
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "—" and parts[1] == name:
            try:
                blob = base64.b64decode(parts[2], validate=True)
                if blob[:4].hex() == hex_id and len(blob) == 76:
                    timestamp = int.from_bytes(blob[4:12], "big")
                    public.verify(blob[12:], _cosigned_message(body + "\n", timestamp))
                    return timestamp
            except Exception:  # noqa: BLE001 - a bad line is skipped, like any other
                continue
    raise InvalidFilter(f"no cosignature by {name} verifies this note")
