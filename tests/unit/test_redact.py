"""Secrets in URLs (passwords, API keys in paths and queries) are redacted from error text; plain URLs and
paths stay readable."""

from __future__ import annotations

import pytest

from ledger_service.core.redact import redact


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
        ("wss://eth-mainnet.g.alchemy.com/v2/AbC-123_dEf456GhI789jKl", "AbC-123_dEf456GhI789jKl"),
        ("redis://:hunter2hunter@cache:6379/0", "hunter2hunter"),
        ("postgresql://app:pa55word@db/prov", "pa55word"),
        ("http://node:8545/?apikey=k3y-value", "k3y-value"),
        ("Max retries exceeded with url: /v3/TOKENTOKEN123 (Caused by x)", "TOKENTOKEN123"),
    ],
)
def test_url_secrets_are_redacted(text: str, hidden: str) -> None:
    assert hidden not in redact(f"failed: {text}.")
    assert "***" in redact(text)


def test_plain_urls_and_paths_stay_readable() -> None:
    for text in ("http://127.0.0.1:8545", "GET /v1/readings/batch", "http://localhost:5001/api/v0/add"):
        assert redact(text) == text
