"""The service's parts through their Python API and over HTTP (TestClient): ingest, batcher, proofs, indexer,
oracles, MQTT, Celery, IPFS, PostgreSQL."""
