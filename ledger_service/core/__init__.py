"""The core: settings, errors, database and models, chain access, readings, keys, Merkle trees.

It imports nothing above it: not the service modules, not the indexer, oracles or tokenization, not the app.
"""
