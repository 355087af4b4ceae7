"""The service modules: ingest, batching, proofs, content, the registry cache, devices, items, parties.

They build on the core only; the indexer, oracles and tokenization build on them.
"""
