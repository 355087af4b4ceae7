"""Signature checks in worker processes, so a batch request uses every core.

The parent does what needs the registry (device status, current key); the workers get plain
tuples (reading fields, signature, key) and return, for each, whether the signature holds, with
the EIP-712 digest and the Merkle leaf they computed on the way. Processes are started with
`spawn` (the service has threads; forking it would copy their locks).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache

from ledger_service.core.enums import KeyType
from ledger_service.core.errors import TooManyBadSignatures
from ledger_service.core.keys import PublicKey
from ledger_service.core.readings import Domain, Reading, reading_leaf

ReadingTuple = tuple[bytes, int, int, str, int, int, str, bytes]
KeyTuple = tuple[int, str | None, int | None, int | None]
Job = tuple[ReadingTuple, bytes, KeyTuple]
Outcome = tuple[bool, bytes, bytes]
#: Jobs per chunk when checks stop at a number of bad signatures (bounds the work after the limit).
BOUNDED_CHUNK = 128


def too_many_bad_signatures(limit: int) -> TooManyBadSignatures:
    """The refusal of a batch whose bad signatures passed `limit`."""
    return TooManyBadSignatures(
        f"more than {limit} readings of the batch have signatures that do not verify; checking stopped and "
        "nothing was stored",
        max_bad_signatures=limit,
    )


@lru_cache(maxsize=65536)
def _key(key: KeyTuple) -> PublicKey:
    return PublicKey(KeyType(key[0]), signer=key[1], x=key[2], y=key[3])


@lru_cache(maxsize=16)
def _domain(chain_id: int, verifying_contract: str) -> Domain:
    return Domain(chain_id, verifying_contract)


#: Seconds between a worker's looks at whether its parent process is still there.
PARENT_POLL = 0.5


def _exit_with_parent(parent: int) -> None:
    """In a worker: exits once the process that started it is gone, even if it was killed.

    Linux's parent-death signal (`PR_SET_PDEATHSIG`) cannot be used here: it fires when the
    *thread* that started the worker ends, and the executor starts workers from whichever thread
    submits work (a request thread, say), so workers were killed under a living service."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ready() -> bool:
    return True


def key_tuple(key: PublicKey) -> KeyTuple:
    """A public key as plain values a worker process can receive."""
    return (int(key.key_type), key.signer, key.x, key.y)


def check_chunk(chain_id: int, verifying_contract: str, jobs: list[Job]) -> list[Outcome]:
    """For each job: (signature valid, digest, leaf). Runs in a worker process."""
    domain = _domain(chain_id, verifying_contract)
    outcomes: list[Outcome] = []
    for fields, signature, key in jobs:
        digest = Reading(*fields).digest(domain)
        valid = _key(key).verify(digest, signature)
        outcomes.append((valid, digest, reading_leaf(digest, signature) if valid else b""))
    return outcomes


class SignaturePool:
    """A pool of processes checking signatures; `check` spreads the jobs over them."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        # workers die with their process, even when it is killed (a crash must leave no orphans)
        self._pool = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )

    def check(self, domain: Domain, jobs: list[Job], max_invalid: int | None = None) -> list[Outcome]:
        """Outcomes in job order (no jobs: just makes sure every process has started). With
        `max_invalid`, jobs go out in small chunks and the checks stop (the chunks not started
        are cancelled) once more than that many signatures failed: `TooManyBadSignatures`."""
        if not jobs:
            for started in [self._pool.submit(_ready) for _ in range(self.processes)]:
                started.result()
            return []
        size = max(64, -(-len(jobs) // (self.processes * 2)))
        if max_invalid is not None:
            size = min(size, BOUNDED_CHUNK)
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        futures = [self._pool.submit(check_chunk, domain.chain_id, domain.verifying_contract, c) for c in chunks]
        outcomes: list[Outcome] = []
        invalid = 0
        for future in futures:
            chunk = future.result()
            outcomes.extend(chunk)
            invalid += sum(1 for valid, _, _ in chunk if not valid)
            if max_invalid is not None and invalid > max_invalid:
                for pending in futures:
                    pending.cancel()
                raise too_many_bad_signatures(max_invalid)
        return outcomes

    def close(self) -> None:
        """Stops the worker processes."""
        self._pool.shutdown(wait=True, cancel_futures=True)
