"""Signing webhook deliveries, checking them as a receiver does, and where deliveries may go.

Signing follows the Standard Webhooks scheme, so receivers can check a delivery with any library
for it, or by hand:

- headers `webhook-id` (the delivery id, the same on every retry: `SUBSCRIPTION.EVENT`),
  `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` then base64);
- the signature is HMAC-SHA256, keyed with the base64-decoded part of the subscription's secret
  after `whsec_`, over `{webhook-id}.{webhook-timestamp}.{body}`;
- a receiver refuses a timestamp more than five minutes from its clock and deduplicates on
  `webhook-id`.

The secret is shown once, when the subscription is made, and never stored: it is derived from the
service's webhook key and the subscription's id, so the database holds nothing that signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ledger_service.core.errors import ConfigurationError, InvalidWebhookUrl
from ledger_service.core.secret_files import secret_file
from ledger_service.core.settings import Settings

TOLERANCE = 300  # seconds a receiver accepts between a delivery's timestamp and its clock
_KEY_FILE = "webhook.key"


def webhook_key(settings: Settings) -> bytes:
    """The key subscription secrets derive from: `PROVENANCE_WEBHOOK_KEY`, else a random key kept
    in the data directory (made on first use, readable by the owner only; written whole to a
    temporary file and renamed, so no process ever reads a half-written key)."""
    if settings.webhook_key is not None:
        key = settings.webhook_key.get_secret_value().encode()
    else:
        key = secret_file(settings.data_dir / _KEY_FILE, lambda: secrets.token_hex(32).encode()).strip()
    if len(key) < 16:
        raise ConfigurationError("the webhook key is empty or too short (at least 16 characters)")
    return key


def subscription_secret(key: bytes, subscription_id: int, salt: str) -> str:
    """The subscription's signing secret, `whsec_` and base64 of 32 bytes: bound to its id and to a
    random salt made with it, so a later subscription never gets an earlier one's secret."""
    raw = hmac.new(key, f"webhook-subscription:{subscription_id}:{salt}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(raw).decode()


def sign(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header for one delivery."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> bool:
    """What a receiver checks: a timestamp within `TOLERANCE` of its clock and one of the listed
    `v1` signatures matching (compared in constant time)."""
    try:
        delivery_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
        listed = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE:
        return False
    expected = sign(secret, delivery_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in listed)


#: IPv6 ranges that carry an IPv4 address inside (NAT64, 6to4, Teredo): refused, not decoded.
_TUNNELS = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32"))


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif any(ip in network for network in _TUNNELS):
            return False
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL's parts, and the addresses checked for it (empty: connect by
    name, as when private addresses are allowed)."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...] = ()


def check_url(url: str, allow_private: bool) -> Target:
    """Where `url` leads if the service may post to it: http or https, with a host whose every
    address is public (loopback, private, link-local, reserved, multicast and IPv4-in-IPv6 tunnel
    ranges need `allow_private`). Raises `InvalidWebhookUrl` otherwise. Checked when subscribing and
    again before each page of deliveries; the connection then goes to an address checked here, not
    to a second look-up (a name cannot be pointed inward between the check and the connection)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidWebhookUrl(f"the URL's scheme must be http or https, not {parts.scheme[:20]!r}")
    if not parts.hostname:
        raise InvalidWebhookUrl("the URL has no host")
    if parts.username or parts.password:
        raise InvalidWebhookUrl("the URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidWebhookUrl("the URL's port is not a port number") from exc
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if allow_private:
        return Target(parts.scheme, parts.hostname, port, path)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidWebhookUrl("the URL's host does not resolve") from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses or not all(_public(a) for a in addresses):
        raise InvalidWebhookUrl("the URL's host resolves to an address that is not public")
    return Target(parts.scheme, parts.hostname, port, path, addresses)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise InvalidWebhookUrl(f"the URL's host does not resolve: {parts.hostname}") from exc
    addresses = {str(info[4][0]) for info in infos}
    inward = sorted(a for a in addresses if not _public(a))
    if inward:
        raise InvalidWebhookUrl(f"the URL's host resolves to a non-public address ({inward[0]})")
    return url
