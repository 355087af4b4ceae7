"""Export speed and memory: readings (with their proof columns) to CSV and Parquet.

    .venv/bin/python bench/export.py [--rows 1000000] [--database-url sqlite:///...]

Fills a fresh database with `--rows` synthetic readings (three quarters sealed into batches of
1,000 with 10-hash Merkle paths; the values are random, nothing is signed: the export reads rows,
it checks nothing), then exports a tenth of them and all of them, in each format, each in a
child process that reports its own peak RSS. Constant memory means the two peaks are about equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger_service.core.db import bulk_insert, make_engine, upgrade_schema  # noqa: E402

COLUMNS = (
    "id", "device_id", "key_index", "sequence", "timestamp", "metric", "value", "scale", "unit", "payload_hash",
    "digest", "signature", "signer", "received_at", "batch_id", "tree_index", "proof",
)  # fmt: skip
CHILD = """
import json, sys, time
from ledger_service.core.db import make_engine
from ledger_service.services import export
from ledger_service.services.reading_query import ReadingFilter
url, fmt, until, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
engine = make_engine(url)
started = time.perf_counter()
rows = 0
def count(n):
    global rows
    rows += n
with open(out, "wb") as sink:
    for chunk in export.stream(engine, export.dataset("readings", ReadingFilter(end=until)), fmt, progress=count):
        sink.write(chunk)
# VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork and exec
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started, "peak_rss_mb": peak / 1024}))
"""


def fill(url: str, rows: int) -> None:
    engine = make_engine(url, bulk=True)
    upgrade_schema(engine)
    started = time.perf_counter()
    batches = rows * 3 // 4 // 1000
    with engine.begin() as conn:
        for batch in range(1, batches + 1):
            conn.execute(
                text(
                    "INSERT INTO batch (id, root, status, reading_count, first_timestamp, last_timestamp, content_id, "
                    "sealed_at, attempts) VALUES (:i, :r, 'CONFIRMED', 1000, 0, 0, 'bafk', 0, 0)"
                ),
                {"i": batch, "r": "0x" + os.urandom(32).hex()},
            )
    device = "0x" + os.urandom(32).hex()
    for start in range(0, rows, 50_000):
        chunk = []
        for n in range(start, min(rows, start + 50_000)):
            sealed = n < batches * 1000
            chunk.append((
                "0x" + os.urandom(32).hex(), device, 0, n, 1_700_000_000 + n, "temperature", str(n % 4000 - 2000), 2,
                "Cel", "0x" + "00" * 32, "0x" + os.urandom(32).hex(), "0x" + os.urandom(65).hex(), "0x" + "ab" * 20,
                1.0, n // 1000 + 1 if sealed else None, n % 1000 + 999 if sealed else None,
                os.urandom(320) if sealed else None,
            ))  # fmt: skip
        with engine.begin() as conn:
            bulk_insert(conn, "reading", COLUMNS, chunk)
        print(f"  filled {min(rows, start + 50_000):,} readings", flush=True)
    print(f"filled {rows:,} readings in {time.perf_counter() - started:.1f} s")
    engine.dispose()


def export_once(url: str, fmt: str, until: int, workdir: Path) -> dict[str, float]:
    out = workdir / f"readings-{until}.{fmt}"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, fmt, str(until), str(out)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["megabytes"] = out.stat().st_size / 1e6
    out.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'export.db'}"
        fill(url, args.rows)
        for fmt in ("csv", "parquet"):
            for share in (10, 1):
                rows = args.rows // share
                r = export_once(url, fmt, 1_700_000_000 + rows - 1, workdir)
                speed = r["rows"] / r["seconds"]
                print(
                    f"{fmt:8} {int(r['rows']):>9,} rows in {r['seconds']:6.1f} s ({speed:,.0f} rows/s), "
                    f"{r['megabytes']:8.1f} MB written, peak RSS {r['peak_rss_mb']:.0f} MB"
                )


if __name__ == "__main__":
    main()
