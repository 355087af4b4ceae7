"""Secrets kept out of everything the service stores, serves or logs: one function, `redact`.

`redact(text)` replaces with `***`:
- every secret the service was configured with (`remember`: the settings register theirs when
  they are made: the operator key, passwords, and the secret parts of every URL setting);
- in any URL: the user info (`user:password@`), query values, and path segments that are not
  plain short words (`/v3/<key>` of Infura, `/v2/<key>` of Alchemy...);
- the same path segments where an HTTP library names only the path (`... with url: /v3/<key>`).

It runs on every problem body the API sends (`ProvenanceError` details are redacted when made,
`api/problems.py` redacts the rest), on every log line (`logs.py` formatters), and on every
value the database is asked to store in a column named like `error` (a SQLAlchemy hook on all
engines, installed when this module is imported; `core.errors` imports it, so every process that
can fail has it).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit

from sqlalchemy import event
from sqlalchemy.engine import Engine

MASK = "***"
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{}`]+")
_PATH_AFTER = re.compile(r"((?:url|uri|URL|URI)[:=] ?)(/[^\s'\"<>()\[\]{}`]*)")
_PLAIN_SEGMENT = re.compile(r"[a-z][a-z0-9_.-]{0,11}")
_MIN_SECRET = 6

_known: set[str] = set()
_ordered: list[str] = []
_lock = threading.Lock()


def remember(*values: str | None) -> None:
    """Adds secrets to redact wherever they appear (values shorter than 6 characters are not
    kept: they would match ordinary text). URLs add their secret parts."""
    found: list[str] = []
    for value in values:
        if not value:
            continue
        if "://" in value:
            found.extend(url_secrets(value))
        elif len(value) >= _MIN_SECRET:
            found.append(value)
            if value.startswith("0x") and len(value) > 2 + _MIN_SECRET:
                found.append(value[2:])
    with _lock:
        fresh = [v for v in found if v not in _known]
        if fresh:
            _known.update(fresh)
            _ordered[:] = sorted(_known, key=len, reverse=True)


def url_secrets(url: str) -> list[str]:
    """The parts of `url` that may be secret: password, query values, token-like path segments."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    secrets = [parts.password] if parts.password and len(parts.password) >= _MIN_SECRET else []
    for pair in parts.query.split("&"):
        value = pair.partition("=")[2]
        if len(value) >= _MIN_SECRET:
            secrets.append(value)
    secrets.extend(s for s in parts.path.split("/") if s and not _plain(s) and len(s) >= _MIN_SECRET)
    return secrets


def _plain(segment: str) -> bool:
    return bool(_PLAIN_SEGMENT.fullmatch(segment)) and not re.search(r"\d{4,}", segment)


def _redact_path(path: str) -> str:
    return "/".join(s if not s or _plain(s) else MASK for s in path.split("/"))


def redact_url(url: str) -> str:
    """`url` without user info, query values or token-like path segments."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    netloc = (f"{MASK}@" if "@" in parts.netloc else "") + (f"[{host}]" if ":" in host else host)
    if port is not None:
        netloc += f":{port}"
    query = "&".join(f"{p.partition('=')[0]}={MASK}" if "=" in p else MASK for p in parts.query.split("&") if p)
    return SplitResult(parts.scheme, netloc, _redact_path(parts.path), query, "").geturl()


def redact(text: str) -> str:
    """`text` with every known secret and every URL's secret parts replaced by `***`."""
    if not text:
        return text
    with _lock:
        known = list(_ordered)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group()), text)
    if "/" in text:
        text = _PATH_AFTER.sub(lambda m: m.group(1) + _redact_path(m.group(2)), text)
    return text


def redact_value(value: Any) -> Any:
    """`value` redacted when it is a string, or a list, tuple or dict holding strings."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def remember_settings(values: Iterable[str | None]) -> None:
    """Registers the secret values of the service's settings (called by `Settings`)."""
    remember(*values)


def _scrub_parameters(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    """Redacts the values of statements that write an error text (`last_error`, `error`...)."""
    if "error" not in statement.lower() or parameters is None:
        return statement, parameters
    if executemany and isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes):
        return statement, type(parameters)(redact_value(p) for p in parameters)  # type: ignore[call-arg]
    return statement, redact_value(parameters)


if not event.contains(Engine, "before_cursor_execute", _scrub_parameters):
    event.listen(Engine, "before_cursor_execute", _scrub_parameters, retval=True)
