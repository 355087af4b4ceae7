"""Exports: readings with their proof columns, batches and the mirror's tables, as CSV and Parquet,
over HTTP and from the CLI; a Parquet export reads back in DuckDB with the database's rows; the
service's tables of secrets are not exportable."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from ledger_service.app.api.app import create_app
from ledger_service.app.cli import app as cli_app
from ledger_service.core.merkle import split_path, verify
from ledger_service.services.container import Services
from tests.utils.factories import new_device, signed_body
from tests.utils.problems import assert_problem


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    """Twelve readings of two devices, the first eight anchored in one batch."""
    with TestClient(create_app(services)) as http:
        devices = [new_device(services.ledger), new_device(services.ledger)]
        services.registry.refresh(force=True)
        start = int(time.time()) + 1
        for index in range(12):
            body = signed_body(devices[index % 2], services.ledger.domain, timestamp=start + index, value=index - 5)
            assert http.post("/v1/readings", json=body).status_code == 201
            if index == 7:
                batcher = services.batcher()
                batcher.batch_age, batcher.batch_size = 0, 100
                batcher.run_once()
        yield http


def database_readings(services: Services) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT r.id, r.device_id, r.sequence, r.timestamp, r.value, r.scale, r.batch_id, r.tree_index, "
                "r.proof, b.root FROM reading r LEFT JOIN batch b ON b.id = r.batch_id ORDER BY r.timestamp, r.id"
            )
        ).mappings()
        return [dict(r) for r in rows]


def test_a_parquet_export_reads_back_in_duckdb_with_the_databases_rows(
    api: TestClient, services: Services, tmp_path: Path
) -> None:
    answer = api.get("/v1/exports/readings", params={"format": "parquet"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/vnd.apache.parquet"
    assert answer.headers["content-disposition"] == 'attachment; filename="readings.parquet"'
    assert "x-indexed-block" in answer.headers
    path = tmp_path / "readings.parquet"
    path.write_bytes(answer.content)
    exported = duckdb.sql(
        f"SELECT id, device_id, sequence, timestamp, value, scale, batch_id, tree_index, merkle_proof, batch_root "
        f"FROM '{path}'"
    ).fetchall()
    expected = database_readings(services)
    assert len(exported) == len(expected) == 12
    for got, want in zip(exported, expected, strict=True):
        proof = "0x" + bytes(want["proof"]).hex() if want["proof"] is not None else None
        assert got == (
            want["id"], want["device_id"], want["sequence"], want["timestamp"], want["value"], want["scale"],
            want["batch_id"], want["tree_index"], proof, want["root"],
        )  # fmt: skip
    anchored = [row for row in exported if row[8] is not None]
    assert len(anchored) == 8
    for row in anchored:  # the proof columns alone prove each reading against its batch root
        assert verify(bytes.fromhex(row[9][2:]), bytes.fromhex(row[0][2:]), split_path(bytes.fromhex(row[8][2:])))


def test_csv_and_parquet_hold_the_same_rows_and_filters_apply(api: TestClient, tmp_path: Path) -> None:
    first = api.get("/v1/readings", params={"limit": 1}).json()["data"][0]["device_id"]
    as_csv = api.get("/v1/exports/readings", params={"format": "csv", "device": first})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 6 and {r["device_id"] for r in rows} == {first}
    (tmp_path / "r.parquet").write_bytes(
        api.get("/v1/exports/readings", params={"format": "parquet", "device": first}).content
    )
    parquet = duckdb.sql(f"SELECT id, value, merkle_proof FROM '{tmp_path / 'r.parquet'}'").fetchall()
    assert [(r["id"], r["value"], r["merkle_proof"] or None) for r in rows] == parquet


def test_the_cli_exports_batches_and_a_mirror_table(
    api: TestClient, services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVENANCE_DATABASE_URL", services.settings.resolved_database_url)
    monkeypatch.setenv("PROVENANCE_DATA_DIR", str(services.settings.data_dir))
    runner = CliRunner()
    out = tmp_path / "batches.parquet"
    done = runner.invoke(cli_app, ["export", "batches", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "exported 1 batches rows" in done.output and out.exists()
    assert duckdb.sql(f"SELECT root FROM '{out}'").fetchall() == [(api.get("/v1/batches").json()["data"][0]["root"],)]
    blocks = tmp_path / "blocks.csv"
    assert runner.invoke(cli_app, ["export", "chain_block", "--out", str(blocks)]).exit_code == 0
    assert blocks.read_text().splitlines()[0].startswith("number,hash,parent_hash")
    refused = runner.invoke(cli_app, ["export", "api_key", "--out", str(tmp_path / "keys.csv")])
    assert refused.exit_code == 1 and "no dataset 'api_key'" in refused.output
    assert not (tmp_path / "keys.csv").exists()
    wrong = runner.invoke(cli_app, ["export", "batches", "--out", str(tmp_path / "b.json")])
    assert wrong.exit_code == 2 and "csv or parquet" in wrong.output


def test_secret_tables_unknown_datasets_and_bad_filters_are_refused(api: TestClient) -> None:
    for name in ("api_key", "party", "loop_health", "alembic_version", "nothing"):
        assert_problem(api.get(f"/v1/exports/{name}"), 404, "not-found")
    assert_problem(api.get("/v1/exports/readings", params={"devcie": "0x" + "ab" * 32}), 422, "invalid-filter")
    assert_problem(api.get("/v1/exports/batches", params={"metric": "temperature"}), 422, "invalid-filter")
    assert_problem(api.get("/v1/exports/readings", params={"format": "xlsx"}), 422, "validation-error")
    assert_problem(api.get("/v1/exports/readings", params={"from": 10, "to": 1}), 422, "invalid-filter")
