"""API keys for the write endpoints: issued from the CLI, stored as SHA-256 hashes, checked per role.

A key looks like `pl_<prefix>_<secret>`; only its hash and prefix are kept, so a lost key is
revoked and replaced, never recovered.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from enum import StrEnum

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger_service.core.errors import Forbidden, NotFound, Unauthorized
from ledger_service.core.models import ApiKey
from ledger_service.services.parties import check_party_name


class Role(StrEnum):
    """What a key may do."""

    ADMIN = "admin"  # everything
    REGISTRAR = "registrar"  # register devices
    DEVICE_MANAGER = "device-manager"  # rotate keys, suspend, reactivate, revoke, transfer devices
    MANUFACTURER = "manufacturer"  # register, hold, release and recall items
    CUSTODIAN = "custodian"  # hand items over, accept, cancel, record checkpoints, confirm delivery


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(engine: Engine, name: str, roles: list[Role], party: str | None = None) -> tuple[ApiKey, str]:
    """Issues a key (acting on chain as `party` when given); returns its record and the secret,
    which is shown once and never stored."""
    if not roles:
        raise ValueError("a key needs at least one role")
    if party is not None:
        check_party_name(party)
    prefix = secrets.token_hex(4)
    secret = f"pl_{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiKey(
        name=name,
        key_hash=_hash(secret),
        prefix=prefix,
        roles=",".join(sorted({r.value for r in roles})),
        party=party,
        created_at=time.time(),
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(record)
        session.commit()
    return record, secret


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key, revoked ones included."""
    with Session(engine) as session:
        return list(session.exec(select(ApiKey).order_by(col(ApiKey.id))).all())


def revoke_key(engine: Engine, prefix: str) -> ApiKey:
    """Revokes the key with `prefix`."""
    with Session(engine, expire_on_commit=False) as session:
        record = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        if record is None:
            raise NotFound(f"no API key with prefix {prefix}")
        record.revoked_at = record.revoked_at or time.time()
        session.add(record)
        session.commit()
        return record


def authenticate(engine: Engine, secret: str | None) -> ApiKey:
    """The key behind `secret` if it is valid (known, not revoked), whatever its roles; raises otherwise."""
    if not secret:
        raise Unauthorized("this endpoint needs an API key: send `Authorization: Bearer <key>`")
    with Session(engine) as session:
        record = session.exec(select(ApiKey).where(ApiKey.key_hash == _hash(secret))).first()
    if record is None or record.revoked_at is not None:
        raise Unauthorized("the API key is not valid (unknown or revoked)")
    return record


def is_valid(engine: Engine, secret: str) -> bool:
    """Whether `secret` is a known, unrevoked key (one indexed lookup by hash)."""
    with Session(engine) as session:
        found = session.exec(
            select(ApiKey.id).where(ApiKey.key_hash == _hash(secret), col(ApiKey.revoked_at).is_(None))
        ).first()
    return found is not None


def authorize(engine: Engine, secret: str | None, needed: Role) -> ApiKey:
    """The key behind `secret` if it is valid and has `needed` (or admin); raises otherwise."""
    record = authenticate(engine, secret)
    roles = set(record.roles.split(","))
    if needed.value not in roles and Role.ADMIN.value not in roles:
        raise Forbidden(f"the API key '{record.name}' lacks the role {needed.value}", needed_role=needed.value)
    return record


def still_valid(engine: Engine, key_id: int | None) -> bool:
    """Whether the key with `key_id` exists and is not revoked: long-lived work on a key's behalf
    (a webhook subscription, an open event stream) checks it again as it goes."""
    if key_id is None:
        return False
    with Session(engine) as session:
        record = session.get(ApiKey, key_id)
    return record is not None and record.revoked_at is None
