"""Python mirrors of the contracts' enums and flag constants, in one place.

Each class names the Solidity type it mirrors; `tests/unit/test_enum_mirrors.py` reads every enum
definition and `ACTION_*` constant out of `contracts/` and fails if a mirror's members or numbers
differ, so a change on either side cannot go unnoticed.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class KeyType(IntEnum):
    """Key types, numbered as `DeviceRegistry.KeyType`."""

    SECP256K1 = 1
    P256 = 2

    @property
    def label(self) -> str:
        """The name used in JSON and on the command line."""
        return {KeyType.SECP256K1: "secp256k1", KeyType.P256: "p256"}[self]

    @classmethod
    def parse(cls, text: str) -> KeyType:
        """The key type named `text` (secp256k1, p256)."""
        for member in cls:
            if member.label == text.lower().replace("-", ""):
                return member
        raise ValueError(f"unknown key type {text!r}: use secp256k1 or p256")


class DeviceStatus(IntEnum):
    """Device statuses, numbered as `DeviceRegistry.Status`."""

    ACTIVE = 1
    SUSPENDED = 2
    REVOKED = 3

    @property
    def label(self) -> str:
        """The lower-case name used in the API."""
        return self.name.lower()


class ItemStatus(IntEnum):
    """`SupplyChain.Status`."""

    NONE = 0
    ACTIVE = 1
    DELIVERED = 2
    RECALLED = 3


class Condition(IntEnum):
    """`SupplyChain.Condition`."""

    COMPLIANT = 0
    OUT_OF_COMPLIANCE = 1


class RuleKind(IntEnum):
    """`SensorOracle.RuleKind`."""

    THRESHOLD = 0
    HEARTBEAT = 1
    AGGREGATE = 2


class Comparison(IntEnum):
    """`SensorOracle.Comparison`: above `upper`, below `lower`, or outside [lower, upper]."""

    ABOVE = 0
    BELOW = 1
    OUTSIDE = 2

    def breached(self, value: int, lower: int, upper: int) -> bool:
        """The contract's comparison of a reading's value (or a mean) with a rule's bounds; the one
        place it is written outside `SensorOracle`."""
        if self is Comparison.ABOVE:
            return value > upper
        if self is Comparison.BELOW:
            return value < lower
        return value < lower or value > upper


class Action(IntFlag):
    """`SensorOracle.ACTION_*` bits."""

    NONE = 0
    MARK_OUT_OF_COMPLIANCE = 1
    FREEZE_TOKEN = 2
    SETTLE_ESCROW = 4

    @classmethod
    def parse(cls, names: str) -> Action:
        """Actions from a comma-separated list of names (`mark,freeze,settle` or full names)."""
        short = {"mark": cls.MARK_OUT_OF_COMPLIANCE, "freeze": cls.FREEZE_TOKEN, "settle": cls.SETTLE_ESCROW}
        result = cls.NONE
        for raw in filter(None, (n.strip().lower() for n in names.split(","))):
            flag = short.get(raw) or cls.__members__.get(raw.upper().replace("-", "_"))
            if flag is None:
                raise ValueError(f"unknown action {raw!r} (known: mark, freeze, settle)")
            result |= flag
        return result

    def names(self) -> list[str]:
        """The short names of the set bits."""
        short = {self.MARK_OUT_OF_COMPLIANCE: "mark", self.FREEZE_TOKEN: "freeze", self.SETTLE_ESCROW: "settle"}
        return [name for flag, name in short.items() if flag in self]


class Path(IntEnum):
    """`SensorOracle.Path`: how a report was proven."""

    EVIDENCE = 0
    COMMITTEE_ECDSA = 1
    COMMITTEE_BLS = 2


class Outcome(IntEnum):
    """`ShipmentEscrow.Outcome`."""

    NONE = 0
    PAID_TO_SELLER = 1
    REFUNDED_ON_BREACH = 2
    REFUNDED_ON_RECALL = 3
    REFUNDED_ON_EXPIRY = 4
    REFUNDED_ON_LATE_DELIVERY = 5


class RuleProblem(IntEnum):
    """`ISensorOracle.RuleProblem`: why the contract refused a rule's parameters (`OracleInvalidRule`)."""

    NO_TARGET = 0
    DEVICE_RULE_WITH_ACTIONS = 1
    UNKNOWN_ACTION = 2
    SETTLING_WITHOUT_MARKING = 3
    NO_SILENCE_LIMIT = 4
    NO_METRIC = 5
    NO_UNIT = 6
    LOWER_ABOVE_UPPER = 7
    NO_READINGS = 8
    NO_WINDOW = 9


#: The mirrors by the name of the Solidity enum they mirror and the interface that declares it (as
#: an ABI's `internalType` names it: `enum ISensorOracle.RuleProblem`), for naming enum values in
#: decoded errors.
BY_SOLIDITY_NAME: dict[str, type[IntEnum]] = {
    "IDeviceRegistry.KeyType": KeyType,
    "IDeviceRegistry.Status": DeviceStatus,
    "ISupplyChain.Status": ItemStatus,
    "ISupplyChain.Condition": Condition,
    "ISensorOracle.RuleKind": RuleKind,
    "ISensorOracle.Comparison": Comparison,
    "ISensorOracle.Path": Path,
    "ISensorOracle.RuleProblem": RuleProblem,
    "IShipmentEscrow.Outcome": Outcome,
}
