"""provenance-ledger: blockchain-anchored provenance for signed IoT sensor readings."""

__version__ = "0.1.0"
