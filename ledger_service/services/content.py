"""Content-addressed storage of batch payloads.

Blobs are named by their CIDv1 (codec raw, multihash sha2-256, base32), which anyone can compute
from the bytes. The default store keeps them in a folder; with an IPFS API URL the same bytes are
added and pinned on an IPFS node, and get the same CID (see docs/proof-format.md).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import httpx
from multiformats import CID, multihash

from ledger_service.core.errors import ProvenanceError


class ContentError(ProvenanceError, RuntimeError):
    """The content store failed or returned other bytes than asked for."""

    code = "content-error"
    status = 502
    title = "Content store error"


def cid_of(data: bytes) -> str:
    """The CIDv1 (raw, sha2-256, base32) of `data`."""
    return str(CID("base32", 1, "raw", multihash.digest(data, "sha2-256")))


class ContentStore(Protocol):
    """Where batch payloads go."""

    def put(self, data: bytes) -> str:
        """Stores `data`; returns its CID."""
        ...

    def get(self, cid: str) -> bytes:
        """The bytes named `cid`."""
        ...


class LocalContentStore:
    """Blobs in a folder, one file per CID, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, cid: str) -> Path:
        if not cid.isalnum():
            raise ContentError(f"not a CID: {cid!r}")
        return self.root / cid[-2:] / cid

    def put(self, data: bytes) -> str:
        cid = cid_of(data)
        path = self._path(cid)
        if path.exists():
            return cid
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # writers in threads too
        try:
            with tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk leaves no partial file behind
            raise
        return cid

    def get(self, cid: str) -> bytes:
        path = self._path(cid)
        if not path.exists():
            raise ContentError(f"no content {cid} in {self.root}")
        data = path.read_bytes()
        if cid_of(data) != cid:
            raise ContentError(f"content {cid} in {self.root} is corrupted")
        return data


class IpfsContentStore:
    """Blobs added and pinned on an IPFS node through its HTTP RPC API (plain HTTP: the
    unmaintained ipfshttpclient refuses current daemons), each as one raw block."""

    def __init__(self, api_url: str, timeout: float = 60.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout

    def put(self, data: bytes) -> str:
        expected = cid_of(data)
        # One chunk as large as the blob keeps it a single raw block, so the node's CID is the
        # local one; base32 so that the strings compare.
        params = {
            "cid-version": "1",
            "raw-leaves": "true",
            "pin": "true",
            "cid-base": "base32",
            "chunker": f"size-{max(262144, len(data))}",
        }
        try:
            response = httpx.post(
                f"{self.api_url}/api/v0/add", params=params, files={"file": ("blob", data)}, timeout=self.timeout
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ContentError(f"IPFS add failed: {exc}") from exc
        answer = response.json()
        cid = str(answer.get("Hash") or answer.get("Cid", {}).get("/", ""))
        if cid != expected:
            raise ContentError(f"IPFS named the blob {cid}, expected {expected}")
        return cid

    def get(self, cid: str) -> bytes:
        try:
            response = httpx.post(
                f"{self.api_url}/api/v0/cat", params={"arg": cid, "timeout": "10s"}, timeout=self.timeout
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ContentError(f"IPFS cat {cid} failed: {exc}") from exc
        if cid_of(response.content) != cid:
            raise ContentError(f"IPFS returned other bytes for {cid}")
        return response.content
