"""GS1 identifiers for items: GS1 Digital Link URIs and EPC URNs, one canonical form, and the
item id (bytes32) the SupplyChain contract keys an item by.

- A GS1 Digital Link URI (`https://{any host}/01/{GTIN}/21/{serial}`, or another primary key such
  as `/00/{SSCC}`) is canonical with the host `id.gs1.org`, the GTIN as 14 digits, and the path
  cut to its primary key and serial (no query, no data attributes).
- An EPC URN of a GS1 key (SGTIN, LGTIN, SGTIN pattern, SSCC, SGLN, PGLN, GRAI, GIAI, GSRN, GDTI)
  becomes the same Digital Link URI (check digits computed; serials stay percent-encoded as in
  the URN). Other EPC URNs stay as they are.
- The item id is keccak-256 of the canonical form's UTF-8 bytes; a `0x` and 64 hex digits is an
  item id already.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from eth_utils import keccak

from ledger_service.core.errors import InvalidFilter

CANONICAL_HOST = "https://id.gs1.org"
_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
_SGLN = re.compile(r"^urn:epc:id:sgln:(\d{6,12})\.(\d{0,6})\.(.*)$")
#: EPC URN scheme -> (its pattern, how its parts become a Digital Link path).
_URNS: dict[str, tuple[re.Pattern[str], Callable[..., str]]] = {}


def check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of `digits` (weights 3, 1, ... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _with_check(digits: str, length: int, what: str) -> str:
    if len(digits) != length:
        raise InvalidFilter(f"{what}: company prefix and reference must have {length} digits together")
    return digits + check_digit(digits)


def _urn(scheme: str, pattern: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
    def register(build: Callable[..., str]) -> Callable[..., str]:
        _URNS[scheme] = (re.compile(pattern), build)
        return build

    return register


@_urn("urn:epc:id:sgtin:", r"^(\d{6,12})\.(\d{1,7})\.(.{1,20})$")
def _sgtin(prefix: str, reference: str, serial: str) -> str:
    return f"/01/{_with_check(reference[:1] + prefix + reference[1:], 13, 'SGTIN')}/21/{serial}"


@_urn("urn:epc:class:lgtin:", r"^(\d{6,12})\.(\d{1,7})\.(.{1,20})$")
def _lgtin(prefix: str, reference: str, lot: str) -> str:
    return f"/01/{_with_check(reference[:1] + prefix + reference[1:], 13, 'LGTIN')}/10/{lot}"


@_urn("urn:epc:idpat:sgtin:", r"^(\d{6,12})\.(\d{1,7})\.\*$")
def _gtin_pattern(prefix: str, reference: str) -> str:
    return f"/01/{_with_check(reference[:1] + prefix + reference[1:], 13, 'SGTIN pattern')}"


@_urn("urn:epc:id:sscc:", r"^(\d{6,12})\.(\d{5,11})$")
def _sscc(prefix: str, reference: str) -> str:
    return f"/00/{_with_check(reference[:1] + prefix + reference[1:], 17, 'SSCC')}"


@_urn("urn:epc:id:sgln:", r"^(\d{6,12})\.(\d{0,6})\.(.{1,20})$")
def _sgln(prefix: str, reference: str, extension: str) -> str:
    gln = _with_check(prefix + reference, 12, "SGLN")
    return f"/414/{gln}" + (f"/254/{extension}" if extension != "0" else "")


@_urn("urn:epc:id:pgln:", r"^(\d{6,12})\.(\d{0,6})$")
def _pgln(prefix: str, reference: str) -> str:
    return f"/417/{_with_check(prefix + reference, 12, 'PGLN')}"


@_urn("urn:epc:id:grai:", r"^(\d{6,12})\.(\d{0,6})\.(.{0,16})$")
def _grai(prefix: str, asset_type: str, serial: str) -> str:
    return f"/8003/0{_with_check(prefix + asset_type, 12, 'GRAI')}{serial}"


@_urn("urn:epc:id:giai:", r"^(\d{6,12})\.(.{1,24})$")
def _giai(prefix: str, reference: str) -> str:
    return f"/8004/{prefix}{reference}"


@_urn("urn:epc:id:gsrn:", r"^(\d{6,12})\.(\d{5,11})$")
def _gsrn(prefix: str, reference: str) -> str:
    return f"/8018/{_with_check(prefix + reference, 17, 'GSRN')}"


@_urn("urn:epc:id:gdti:", r"^(\d{6,12})\.(\d{0,6})\.(.{0,17})$")
def _gdti(prefix: str, document_type: str, serial: str) -> str:
    return f"/253/{_with_check(prefix + document_type, 12, 'GDTI')}{serial}"


#: Digital Link primary keys: AI -> the qualifiers kept after it.
_PRIMARY = {"01": ("21", "10"), "00": (), "414": ("254",), "417": (), "8003": (), "8004": (), "8018": (), "253": ()}


def _gtin14(value: str) -> str:
    if not value.isdigit() or len(value) not in (8, 12, 13, 14):
        raise InvalidFilter(f"not a GTIN: {value!r}")
    gtin = value.zfill(14)
    if check_digit(gtin[:-1]) != gtin[-1]:
        raise InvalidFilter(f"GTIN {value} has a wrong check digit")
    return gtin


def _digital_link(text: str) -> str | None:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    segments = [s for s in parts.path.split("/") if s]
    for index, segment in enumerate(segments):  # a Digital Link may carry a path before its primary key
        if segment in _PRIMARY and index + 1 < len(segments):
            value = _gtin14(segments[index + 1]) if segment == "01" else segments[index + 1]
            path = f"/{segment}/{value}"
            rest = segments[index + 2 :]
            if len(rest) >= 2 and rest[0] in _PRIMARY[segment]:
                path += f"/{rest[0]}/{rest[1]}"
            return CANONICAL_HOST + path
    return None


def canonical(identifier: str) -> str:
    """The canonical form of an identifier (see the module text): EPC URNs of the GS1 keys and
    Digital Link URIs become Digital Link URIs on id.gs1.org; other EPC URNs stay as they are;
    anything else is `InvalidFilter`."""
    text = identifier.strip()
    for scheme, (pattern, build) in _URNS.items():
        if text.startswith(scheme):
            found = pattern.match(text[len(scheme) :])
            if found is None:
                raise InvalidFilter(f"malformed EPC URN: {text[:100]!r}")
            return CANONICAL_HOST + build(*found.groups())
    if text.startswith("urn:epc:"):
        return text
    found_link = _digital_link(text)
    if found_link is not None:
        return found_link
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
