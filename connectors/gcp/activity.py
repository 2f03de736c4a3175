"""Last authentication of service accounts and keys: Policy Analyzer's Activity Analyzer (Preview).

`GET v1/projects/{P}/locations/global/activityTypes/{TYPE}/activities:query` (a GET: a POST fails),
TYPE `serviceAccountLastAuthentication` or `serviceAccountKeyLastAuthentication`. The filter ORs
at most ten `activities.full_resource_name="..."` terms; without a filter the call returns every
activity of the project, paged (up to 1000 a page). A project with few names is asked in batches
of ten; one with many is read unfiltered (fewer calls).

Semantics kept (Google's documentation):
- `lastAuthenticatedTime` is a day stamp (a US Pacific *standard* date written `T07:00:00Z`):
  only the date is kept.
- Missing stamp or missing entry: no recorded use since `observationPeriod.startTime`, which is
  not "never used" when the object is older than the window.
- Disabled keys are left out of the key results: their use is unknown, not "never".
- Results are joined on `serviceAccountId` (= the SA's `uniqueId`) and on the trailing key id,
  never by comparing full names (those use the project id, the pools the number).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from connectors._http import when
from connectors.gcp.client import Api, GaveUp, TooLarge, classify
from connectors.gcp.projects import Project

SA_TYPE = "serviceAccountLastAuthentication"
KEY_TYPE = "serviceAccountKeyLastAuthentication"
BATCH = 10
UNFILTERED_ABOVE = 20          # names; above this (3+ batches) one unfiltered paged read is cheaper
PAGE_SIZE = 1000
PERMISSIONS = {SA_TYPE: "policyanalyzer.serviceAccountLastAuthenticationActivities.query",
               KEY_TYPE: "policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query"}


@dataclass
class Usage:
    """What Activity Analyzer said for one project and type."""

    read: bool = True
    last: dict[str, datetime] = field(default_factory=dict)      # join id -> last authentication (day)
    listed: set[str] = field(default_factory=set)                 # join ids with an entry
    window_start: datetime | None = None
    window_end: datetime | None = None
    problem: str = ""           # why it could not be read (the caller records the blind spot)


def day_of(value: Any) -> datetime | None:
    """The Pacific-standard day of a stamp, as midnight UTC of that date (the hour is ignored)."""
    parsed = when(value)
    if parsed is None or not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _join_id(activity_type: str, entry: Mapping[str, Any]) -> str:
    inner = entry.get("activity") if isinstance(entry.get("activity"), Mapping) else {}
    if activity_type == SA_TYPE:
        sa = inner.get("serviceAccount") if isinstance(inner.get("serviceAccount"), Mapping) else {}
        sid = sa.get("serviceAccountId")
        if isinstance(sid, str) and sid:
            return sid
        return ""
    key = inner.get("serviceAccountKey") if isinstance(inner.get("serviceAccountKey"), Mapping) else {}
    name = key.get("fullResourceName") or entry.get("fullResourceName")
    if isinstance(name, str) and "/keys/" in name:
        return name.rsplit("/keys/", 1)[1]
    return ""


def _absorb(usage: Usage, activity_type: str, items: list[Any]) -> None:
    for entry in items:
        if not isinstance(entry, Mapping):
            continue
        period = entry.get("observationPeriod") if isinstance(entry.get("observationPeriod"), Mapping) else {}
        start, end = when(period.get("startTime")), when(period.get("endTime"))
        if start is not None and (usage.window_start is None or start < usage.window_start):
            usage.window_start = start
        if end is not None and (usage.window_end is None or end > usage.window_end):
            usage.window_end = end
        join = _join_id(activity_type, entry)
        if not join:
            continue
        usage.listed.add(join)
        inner = entry.get("activity") if isinstance(entry.get("activity"), Mapping) else {}
        day = day_of(inner.get("lastAuthenticatedTime"))
        if day is not None and (join not in usage.last or day > usage.last[join]):
            usage.last[join] = day


async def last_authentication(api: Api, project: Project, activity_type: str, names: list[str]) -> Usage:
    """Activity for `names` (full resource names) in `project`; `read` False means unknown (blind spot)."""
    usage = Usage()
    if not names:
        return usage
    path = (f"v1/projects/{quote(project.id, safe='')}/locations/global/activityTypes/"
            f"{activity_type}/activities:query")
    what = f"last authentication ({activity_type}) in {project.id}"
    queries: list[dict[str, Any]]
    if len(names) > UNFILTERED_ABOVE:
        queries = [{"pageSize": PAGE_SIZE}]
    else:
        queries = [{"pageSize": PAGE_SIZE,
                    "filter": " OR ".join(f'activities.full_resource_name="{n}"' for n in names[i:i + BATCH])}
                   for i in range(0, len(names), BATCH)]
    try:
        for query in queries:
            async for items, reply in api.pages("policyanalyzer", path, "activities", what, query):
                if not reply.ok:
                    usage.problem = classify(
                        reply, f"grant roles/policyanalyzer.activityAnalysisViewer on the project "
                               f"({PERMISSIONS[activity_type]}); Activity Analyzer is a Preview API").text
                    usage.read = False
                    return usage
                _absorb(usage, activity_type, items)
    except (GaveUp, TooLarge) as exc:
        usage.problem = str(exc)
        usage.read = False
    return usage
