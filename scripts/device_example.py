"""A device program built on `provenance_device` (the README's example): needs only that library,
so only coincurve and cryptography. Records readings, keeps them in an outbox, sends them, and
prints what the service did with them.

    python scripts/device_example.py --key device.key --api http://127.0.0.1:8000 --count 5
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from provenance_device import DeviceKey, Domain, HttpTransport, Outbox, Sender  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", type=Path, required=True, help="the device's key file")
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="the service's URL")
    parser.add_argument("--outbox", type=Path, default=Path("outbox.db"), help="where unsent readings wait")
    parser.add_argument("--count", type=int, default=5, help="readings to record")
    args = parser.parse_args()

    key = DeviceKey.load(args.key)
    outbox = Outbox(args.outbox, first_sequence=1)
    sender = Sender(key, key.default_device_id, Domain.fetch(args.api), outbox, HttpTransport(args.api))
    for _ in range(args.count):
        celsius = 4.0 + math.sin(outbox.next_sequence / 10)
        sender.record("temperature", round(celsius * 100), scale=2, unit="Cel")  # 4.00 °C: value 400, scale 2
    report = sender.flush()
    print(f"device 0x{key.default_device_id.hex()}: confirmed {report.confirmed}, refused {report.refused}, "
          f"still queued {report.pending}" + (f" ({report.error})" if report.error else ""))  # fmt: skip
    return 0 if report.pending == 0 and report.refused == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
