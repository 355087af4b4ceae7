"""Pure functions, parsing, Merkle trees against the JS reference (run with node): no chain, no service, no
external server."""
