"""Typed tables of the SensorOracle events."""

from __future__ import annotations

from sqlalchemy import BigInteger, Text
from sqlmodel import Field

from ledger_service.core.mirror_models.base import ADDRESS, CLUSTERED, HASH, EventRow


class EvRuleAdded(EventRow, table=True):
    """SensorOracle.RuleAdded."""

    __tablename__ = "ev_rule_added"
    __table_args__ = CLUSTERED

    rule_id: str = Field(max_length=80, index=True)
    manager: str = Field(max_length=ADDRESS)
    item_id: str = Field(max_length=HASH, index=True)
    device_id: str = Field(max_length=HASH)
    metric: str = Field(sa_type=Text)
    unit: str = Field(sa_type=Text)
    kind: int
    comparison: int
    lower: str = Field(max_length=80)
    upper: str = Field(max_length=80)
    scale: int
    min_readings: int = Field(sa_type=BigInteger)
    min_duration: int = Field(sa_type=BigInteger)
    actions: int


class EvRuleDisabled(EventRow, table=True):
    """SensorOracle.RuleDisabled."""

    __tablename__ = "ev_rule_disabled"
    __table_args__ = CLUSTERED

    rule_id: str = Field(max_length=80, index=True)
    actor: str = Field(max_length=ADDRESS)


class EvRuleFired(EventRow, table=True):
    """SensorOracle.RuleFired."""

    __tablename__ = "ev_rule_fired"
    __table_args__ = CLUSTERED

    rule_id: str = Field(max_length=80, index=True)
    item_id: str = Field(max_length=HASH, index=True)
    device_id: str = Field(max_length=HASH)
    report_id: str = Field(max_length=HASH)
    path: int
    value: str = Field(max_length=80)
    observed_at: int = Field(sa_type=BigInteger)
    actions: int
    evidence_root: str = Field(max_length=HASH)
    submitter: str = Field(max_length=ADDRESS)


class EvCommitteeMemberAdded(EventRow, table=True):
    """SensorOracle.CommitteeMemberAdded."""

    __tablename__ = "ev_committee_member_added"
    __table_args__ = CLUSTERED

    signer: str = Field(max_length=ADDRESS)
    position: str = Field(max_length=80)
    bls_key: str = Field(sa_type=Text)
    config_version: int = Field(sa_type=BigInteger)


class EvCommitteeMemberRemoved(EventRow, table=True):
    """SensorOracle.CommitteeMemberRemoved."""

    __tablename__ = "ev_committee_member_removed"
    __table_args__ = CLUSTERED

    signer: str = Field(max_length=ADDRESS)
    config_version: int = Field(sa_type=BigInteger)


class EvQuorumChanged(EventRow, table=True):
    """SensorOracle.QuorumChanged."""

    __tablename__ = "ev_quorum_changed"
    __table_args__ = CLUSTERED

    quorum: int
    config_version: int = Field(sa_type=BigInteger)
