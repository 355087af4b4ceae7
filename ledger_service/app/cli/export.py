"""`provenance export`: a dataset (readings with their proof columns, batches, custody periods, a
table of the SQL mirror) to a CSV or Parquet file, in constant memory, with a progress bar."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ledger_service.app.cli.common import console, fail, load_settings
from ledger_service.core.db import make_engine, upgrade_schema
from ledger_service.core.errors import ProvenanceError
from ledger_service.services import export
from ledger_service.services.reading_query import ReadingFilter


def register(app: typer.Typer) -> None:
    """Adds the command to `app`."""
    app.command("export")(export_command)


def export_command(
    dataset: Annotated[str, typer.Argument(help="readings, batches, custody, or a table of the SQL mirror")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write (replaced if it exists).")],
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet; default from the file's ending.")] = "",
    device: Annotated[str | None, typer.Option(help="readings: only this device's")] = None,
    metric: Annotated[str | None, typer.Option(help="readings: only this metric")] = None,
    start: Annotated[int | None, typer.Option("--from", help="readings: taken at or after (unix s)")] = None,
    end: Annotated[int | None, typer.Option("--to", help="readings: taken at or before (unix s)")] = None,
) -> None:
    """Writes a dataset to a CSV or Parquet file (hashes and addresses as 0x-hex)."""
    settings = load_settings()
    chosen = fmt or out.suffix.lstrip(".").lower()
    try:
        if chosen not in export.FORMATS:
            raise typer.BadParameter(f"format {chosen!r}: use --format csv or parquet", param_hint="--format")
        wanted = ReadingFilter(device, metric, start, end) if dataset == "readings" else None
        if wanted is None and any(v is not None for v in (device, metric, start, end)):
            raise typer.BadParameter("--device, --metric, --from and --to filter readings only")
        engine = make_engine(settings.resolved_database_url)
        upgrade_schema(engine)
        data = export.dataset(dataset, wanted)
        total = export.count(engine, data)
        started = time.monotonic()
        partial = out.with_name(out.name + ".partial")
        with Progress(
            TextColumn(f"exporting {dataset}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True,
        ) as bar, partial.open("wb") as sink:  # fmt: skip
            task = bar.add_task(dataset, total=total)
            for chunk in export.stream(engine, data, chosen, progress=lambda rows: bar.advance(task, rows)):
                sink.write(chunk)
        partial.replace(out)
    except ProvenanceError as exc:
        out.with_name(out.name + ".partial").unlink(missing_ok=True)  # no half-written file stays
        fail(exc)
    console.print(
        f"exported {total:,} {dataset} rows to {out} ({chosen}, {out.stat().st_size:,} bytes) "
        f"in {time.monotonic() - started:.1f} s"
    )
