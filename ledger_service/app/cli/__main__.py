"""`python -m ledger_service.app.cli` runs the `provenance` command line."""

from ledger_service.app.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports this module
    main()
