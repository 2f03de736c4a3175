"""CSV and JSON writers for scans: columns exactly design.md's fields, formula-injection safe.

CSV is RFC 4180 (csv module, CRLF, quoted when needed), UTF-8, ISO 8601 UTC times, lists
`;`-joined. A cell a spreadsheet would run as a formula (= + - @ TAB CR first) gets a leading `'`.
JSON carries the same fields (lists as lists) plus each finding's severity, explanation and tag.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from nhitui.model import COLUMNS, Identity, SourceStatus, iso, sanitize

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def row_values(identity: Identity) -> dict[str, Any]:
    """The design.md columns of one identity, as plain JSON-able values."""
    return {
        "uid": identity.uid,
        "source": identity.source,
        "provider": identity.provider,
        "kind": identity.kind,
        "name": identity.name,
        "owner": identity.owner,
        "target": identity.target,
        "scopes": list(identity.scopes),
        "privilege": identity.privilege,
        "created_at": iso(identity.created_at),
        "expires_at": iso(identity.expires_at),
        "last_used_at": iso(identity.last_used_at),
        "status": identity.status,
        "credential": identity.credential,
        "stale": identity.stale,
        "findings": [f.rule for f in identity.findings],
        "actions": list(identity.actions),
        "url": identity.url,
    }


def csv_row(identity: Identity) -> list[str]:
    values = row_values(identity)
    out = []
    for column in COLUMNS:
        value = values[column]
        if isinstance(value, list):
            value = ";".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif column == "uid":
            value = sanitize(value)     # the one provider text Identity keeps raw (see model)
        out.append(safe_cell(str(value)))
    return out


def write_csv(identities: Iterable[Identity], stream: IO[str]) -> int:
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    n = 0
    for identity in identities:
        writer.writerow(csv_row(identity))
        n += 1
    return n


def json_identity(identity: Identity) -> dict[str, Any]:
    values = row_values(identity)
    values["finding_details"] = [
        {"rule": f.rule, "severity": f.severity, "owasp": f.owasp, "explanation": f.explanation}
        for f in identity.findings
    ]
    return values


def json_document(identities: Iterable[Identity], statuses: Mapping[str, SourceStatus],
                  generated_at: datetime | None = None) -> dict[str, Any]:
    """The design.md document: generated_at, sources [{name, provider, status, error, count}], identities."""
    rows = list(identities)
    return {
        "generated_at": iso(generated_at or datetime.now(timezone.utc)),
        "sources": [
            {
                "name": s.source, "provider": s.provider, "status": s.state, "error": s.error, "count": s.count,
                "blind_spots": [{"what": b.what, "reason": b.reason} for b in s.blind_spots],
                "requests": s.requests,
                "rate_limit_remaining": s.rate_limit_remaining,
            }
            for s in statuses.values()
        ],
        "identities": [json_identity(i) for i in rows],
    }


def write_json(identities: Iterable[Identity], statuses: Mapping[str, SourceStatus], stream: IO[str]) -> None:
    json.dump(json_document(identities, statuses), stream, ensure_ascii=False, indent=1)
    stream.write("\n")


def render(identities: Iterable[Identity], statuses: Mapping[str, SourceStatus], fmt: str) -> str:
    buffer = io.StringIO(newline="")
    if fmt == "csv":
        write_csv(identities, buffer)
    else:
        write_json(identities, statuses, buffer)
    return buffer.getvalue()


def save(path: Path, identities: Iterable[Identity], statuses: Mapping[str, SourceStatus], fmt: str) -> None:
    """Write an export atomically (temp file + rename), readable only by the user.

    Only a regular file (or a new path) is replaced: `-o /dev/stdout`, a pipe or `/dev/null` is
    written in place, never renamed over.
    """
    path = Path(path)
    text = render(identities, statuses, fmt)
    if path.exists() and not path.is_file():
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)
