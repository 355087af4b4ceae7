"""The edge gateway: accepts signed readings from local devices, checks them against its copy of the
device registry, keeps them in SQLite before it answers, and forwards them upstream in order when the
link is up (docs/edge.md). `provenance edge` runs it."""
