"""GS1 identifiers for items: GS1 Digital Link URIs and EPC URNs, one canonical form, and the
item id (bytes32) the SupplyChain contract keys an item by.

- A GS1 Digital Link URI (`https://{any host}/01/{GTIN}/21/{serial}`, or another primary key such
  as `/00/{SSCC}`) is canonical with the host `id.gs1.org`, the GTIN as 14 digits, and the path
  cut to its primary key and serial (no query, no data attributes).
- An SGTIN EPC URN (`urn:epc:id:sgtin:{company prefix}.{indicator and item reference}.{serial}`)
  becomes the same Digital Link URI (the GTIN's check digit computed); SSCC URNs likewise
  (`/00/{SSCC}`). Other EPC URNs stay as they are.
- The item id is keccak-256 of the canonical form's UTF-8 bytes; a `0x` and 64 hex digits is an
  item id already.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from eth_utils import keccak

from ledger_service.core.errors import InvalidFilter

CANONICAL_HOST = "https://id.gs1.org"
_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
_SGTIN = re.compile(r"^urn:epc:id:sgtin:(\d{6,12})\.(\d{1,7})\.(.{1,20})$")
_SSCC = re.compile(r"^urn:epc:id:sscc:(\d{6,12})\.(\d{5,11})$")
_SGLN = re.compile(r"^urn:epc:id:sgln:(\d{6,12})\.(\d{0,6})\.(.*)$")
#: Primary keys of Digital Link paths this service accepts: AI -> digits it must have.
_PRIMARY = {"01": 14, "00": 18, "8003": None, "8004": None, "414": 13}


def check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of `digits` (weights 3, 1, ... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _gtin14(value: str) -> str:
    if not value.isdigit() or len(value) not in (8, 12, 13, 14):
        raise InvalidFilter(f"not a GTIN: {value!r}")
    gtin = value.zfill(14)
    if check_digit(gtin[:-1]) != gtin[-1]:
        raise InvalidFilter(f"GTIN {value} has a wrong check digit")
    return gtin


def canonical(identifier: str) -> str:
    """The canonical form of an item identifier (see the module text); `InvalidFilter` if it is
    neither a Digital Link URI nor an EPC URN."""
    text = identifier.strip()
    sgtin = _SGTIN.match(text)
    if sgtin:
        prefix, reference, serial = sgtin.groups()
        if len(prefix) + len(reference) != 13:
            raise InvalidFilter(f"SGTIN {text}: company prefix and item reference must have 13 digits together")
        body = reference[0] + prefix + reference[1:]
        return f"{CANONICAL_HOST}/01/{body}{check_digit(body)}/21/{unquote(serial)}"
    sscc = _SSCC.match(text)
    if sscc:
        prefix, reference = sscc.groups()
        if len(prefix) + len(reference) != 17:
            raise InvalidFilter(f"SSCC {text}: company prefix and serial reference must have 17 digits together")
        body = reference[0] + prefix + reference[1:]
        return f"{CANONICAL_HOST}/00/{body}{check_digit(body)}"
    if text.startswith(("urn:epc:id:sgtin:", "urn:epc:id:sscc:")):
        raise InvalidFilter(f"malformed EPC URN: {text[:100]!r}")
    if text.startswith("urn:epc:"):
        return text
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc:
        segments = [unquote(s) for s in parts.path.split("/") if s]
        for index, segment in enumerate(segments):  # a Digital Link may carry a path before its primary key
            if segment in _PRIMARY and index + 1 < len(segments):
                value = segments[index + 1]
                if segment == "01":
                    value = _gtin14(value)
                elif _PRIMARY[segment] and (not value.isdigit() or len(value) != _PRIMARY[segment]):
                    raise InvalidFilter(f"not a valid value for AI ({segment}): {value!r}")
                path = f"/{segment}/{value}"
                rest = segments[index + 2 :]
                if segment == "01" and len(rest) >= 2 and rest[0] in ("21", "10"):
                    path += f"/{rest[0]}/{rest[1]}"
                return CANONICAL_HOST + path
    raise InvalidFilter(f"not a GS1 Digital Link URI or an EPC URN: {identifier[:100]!r}")


def item_id_of(identifier: str) -> str:
    """The item id (0x and 64 hex digits) for an item identifier or an item id."""
    if _HEX32.match(identifier.strip()):
        return identifier.strip().lower()
    return "0x" + keccak(canonical(identifier).encode()).hex()


def gln_of(location: str) -> str:
    """The 13-digit GLN of an SGLN URN or a Digital Link `/414/` URI; '' for anything else (a
    location's site field holds a GLN or nothing)."""
    sgln = _SGLN.match(location.strip())
    if sgln:
        prefix, reference, _ = sgln.groups()
        body = prefix + reference
        return body + check_digit(body) if len(body) == 12 else ""
    found = re.search(r"/414/(\d{13})", location)
    return found.group(1) if found else ""
