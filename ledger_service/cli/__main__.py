"""`python -m ledger_service.cli` runs the `provenance` command line."""

from ledger_service.cli import main

main()
