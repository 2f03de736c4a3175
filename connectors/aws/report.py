"""The IAM credential report: every user's key and password use in one CSV, instead of a call per key.

`GenerateCredentialReport` (polled until COMPLETE, `report_wait` seconds at most), then
`GetCredentialReport`. It is used only when fresh (`report_max_age`, judged with the connector's
injectable clock: moto fixes its `GeneratedTime` at 2015, so against moto the per-key path is used
unless a test says otherwise). A stale or unavailable report is a fact, not a blind spot: the
per-key calls (`GetAccessKeyLastUsed`, `GetLoginProfile`) answer the same questions.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import botocore.exceptions as bx

from connectors.aws.client import TRANSPORT, error_parts
from nhitui.model import iso, utc

if TYPE_CHECKING:
    from connectors.aws import AwsConnector
    from connectors.aws.scan import Account


def credential_report(conn: AwsConnector, iam: Any, state: Account) -> dict[str, dict[str, str]] | None:
    """Rows of the credential report by user when it is fresh, else None (per-key calls instead)."""
    if state.lost is not None:
        return None
    facts = conn.report.facts.setdefault("credential_report", {})
    try:
        status = iam.generate_credential_report().get("State")
        deadline = time.monotonic() + conn.report_wait
        delay = 0.2
        while status != "COMPLETE" and time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            status = iam.generate_credential_report().get("State")
        report = iam.get_credential_report()
    except (bx.ClientError, *TRANSPORT) as exc:
        facts[state.account] = f"unavailable ({error_parts(exc)[0]})"
        return None
    generated = utc(report.get("GeneratedTime"))
    age = conn.clock() - generated if generated else None
    if age is None or age > conn.report_max_age or age < -timedelta(minutes=10):
        facts[state.account] = f"stale (generated {iso(generated)}): per-key calls"
        return None
    content = report.get("Content", b"")
    text = content.decode("utf-8", "replace") if isinstance(content, (bytes, bytearray)) else str(content)
    rows = {r.get("user", ""): r for r in csv.DictReader(io.StringIO(text))}
    facts[state.account] = f"fresh (generated {iso(generated)})"
    return rows


def report_bool(value: Any) -> bool | None:
    if value in ("true", "TRUE", "True"):
        return True
    if value in ("false", "FALSE", "False"):
        return False
    return None


def key_use(row: dict[str, str], key: dict[str, Any]) -> dict[str, Any] | None:
    """A key's last use from its credential-report row, or None when the row cannot say which slot it is.

    The report names keys 1 and 2, not their ids: a slot belongs to the key when it was last rotated
    in the second the key was created and its active flag agrees with the key's status (a key changed
    since the report falls back to the API). Two keys created in the same second with the same status
    are told apart only when both slots say the same thing.
    """
    created = utc(key.get("CreateDate"))
    if created is None:
        return None
    created = created.replace(microsecond=0)
    active = key.get("Status") == "Active"
    found = []
    for n in (1, 2):
        rotated = utc(row.get(f"access_key_{n}_last_rotated"))
        if rotated is None or rotated.replace(microsecond=0) != created:
            continue
        if report_bool(row.get(f"access_key_{n}_active")) != active:
            continue
        found.append((utc(row.get(f"access_key_{n}_last_used_date")), row.get(f"access_key_{n}_last_used_service"),
                      row.get(f"access_key_{n}_last_used_region")))
    if not found or any(f != found[0] for f in found):
        return None
    date, service, region = found[0]
    return {"date": date, "service": service, "region": region, "source": "credential-report", "known": True}
