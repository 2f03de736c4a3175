"""Identities as stored documents and back: what a team store keeps of each row.

A stored row is the JSON export of the identity (the design's columns plus `finding_details`), so a
responder who opens the team inventory sees the same columns, findings and explanations the scanner
computed. Provider `details` are not stored: they can be large and carry provider context the
scanner needed, not the reader. `digest` identifies a version, so a diff compares digests in the
database and decodes only rows that differ.

Speed matters here (a 100k snapshot is saved and opened in seconds): `to_doc` builds the export
dict directly (a test keeps it equal to `export.json_identity`), `copy_text` writes whole COPY
lines without psycopg's per-value adaptation, and `Decoder` shares Finding objects and parses our
own `YYYY-MM-DDTHH:MM:SSZ` timestamps directly. Decoded text still goes through `Identity`, which
sanitises it: the stored rows could have been tampered with.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from json.encoder import encode_basestring as _q
from typing import Any

from nhitui.model import Finding, Identity, iso, utc

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode
_blake = hashlib.blake2b
# COPY text format: backslash, newline, carriage return and tab are escaped in each field.
_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def doc_of(identity: Identity) -> dict[str, Any]:
    """The stored document: `export.json_identity` plus `usage_tracked` (built inline: it is hot)."""
    findings = identity.findings
    return {
        "uid": identity.uid, "source": identity.source, "provider": identity.provider, "kind": identity.kind,
        "name": identity.name, "owner": identity.owner, "target": identity.target, "scopes": list(identity.scopes),
        "privilege": identity.privilege, "created_at": iso(identity.created_at),
        "expires_at": iso(identity.expires_at), "last_used_at": iso(identity.last_used_at),
        "status": identity.status, "credential": identity.credential, "stale": identity.stale,
        "findings": [f.rule for f in findings], "actions": list(identity.actions), "url": identity.url,
        "finding_details": [{"rule": f.rule, "severity": f.severity, "owasp": f.owasp, "explanation": f.explanation}
                            for f in findings],
        "usage_tracked": identity.usage_tracked,
    }


def to_doc(identity: Identity) -> tuple[str, bytes]:
    """(the row as JSON text, its digest)."""
    text = doc_text(identity)
    return text, _blake(text.encode(), digest_size=16).digest()


def _list(values: Any) -> str:
    return "[" + ",".join([_q(v) for v in values]) + "]"


def doc_text(identity: Identity) -> str:
    """`_dumps(doc_of(identity))`, written directly (the keys in sorted order, strings escaped by the
    json module's own C function): half the cost of building and encoding a dict. Anything unusual
    (a value that is not a str or bool) goes the general way; a test keeps the two identical."""
    try:
        if identity.stale.__class__ is not bool or identity.usage_tracked.__class__ is not bool:
            raise TypeError
        parts = []
        rules = []
        for f in identity.findings:
            parts.append(f'{{"explanation":{_q(f.explanation)},"owasp":{_q(f.owasp)},"rule":{_q(f.rule)},'
                         f'"severity":{_q(f.severity)}}}')
            rules.append(f.rule)
        return (f'{{"actions":{_list(identity.actions)},"created_at":"{iso(identity.created_at)}",'
                f'"credential":{_q(identity.credential)},"expires_at":"{iso(identity.expires_at)}",'
                f'"finding_details":[{",".join(parts)}],"findings":{_list(rules)},"kind":{_q(identity.kind)},'
                f'"last_used_at":"{iso(identity.last_used_at)}","name":{_q(identity.name)},'
                f'"owner":{_q(identity.owner)},"privilege":{_q(identity.privilege)},'
                f'"provider":{_q(identity.provider)},"scopes":{_list(identity.scopes)},'
                f'"source":{_q(identity.source)},"stale":{"true" if identity.stale else "false"},'
                f'"status":{_q(identity.status)},"target":{_q(identity.target)},"uid":{_q(identity.uid)},'
                f'"url":{_q(identity.url)},"usage_tracked":{"true" if identity.usage_tracked else "false"}}}')
    except (TypeError, AttributeError):
        return _dumps(doc_of(identity))


def copy_text(snapshot_id: int, identity: Identity) -> str:
    """One `COPY snapshot_rows (snapshot_id, uid, digest, doc) FROM STDIN` line (text format)."""
    text = doc_text(identity)
    digest = _blake(text.encode(), digest_size=16).hexdigest()
    # JSON text holds no raw control characters, only backslashes (from its own escapes).
    uid = identity.uid
    if "\\" in uid or "\t" in uid or "\n" in uid or "\r" in uid:    # translate() is slow: only when needed
        uid = uid.translate(_COPY_ESCAPE)
    return (f"{snapshot_id}\t{uid}\t\\\\x{digest}\t"
            f"{text.replace(chr(92), chr(92) * 2)}\n")


@contextmanager
def paused_gc() -> Iterator[None]:
    """Cyclic garbage collection paused while a batch of rows is decoded: the decoder makes only
    acyclic objects, yet each generation-0 pass walks them all again (a quarter of a 100k load)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decode_texts(texts: list[str], decoder: Decoder | None = None) -> list[Identity]:
    """Identities from stored JSON texts, parsed a few hundred per `json.loads` call: one call per
    row costs its overhead 100k times, one call for all makes a single huge string (four bytes a
    character as soon as one row holds an emoji)."""
    decode = (decoder or Decoder()).identity
    out: list[Identity] = []
    with paused_gc():
        for start in range(0, len(texts), 500):
            out += [decode(d) for d in json.loads("[" + ",".join(texts[start:start + 500]) + "]")]
    return out


def _split(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return tuple(v for v in str(value or "").split(";") if v)


def cached_time(value: str, times: dict[str, datetime | None], limit: int) -> datetime | None:
    """A stored timestamp as an aware UTC datetime, parsed once per distinct text: a load repeats
    the same few thousand stamps over 100k rows. Our own spelling (model.iso) takes the fast
    path; anything else goes through `utc`. `times` stops growing at `limit` (hostile rows)."""
    if value in times:
        return times[value]
    parsed: datetime | None
    if len(value) == 20 and value[19] == "Z":
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is not timezone.utc:
                parsed = parsed.astimezone(timezone.utc)
        except ValueError:
            parsed = utc(value)
    else:
        parsed = utc(value)
    if len(times) < limit:
        times[value] = parsed
    return parsed


class Decoder:
    """Rebuilds Identities from stored rows, sharing what repeats across rows of one load: Finding
    objects (immutable) and parsed timestamps. The caches are bounded: hostile rows cannot grow them
    without limit."""

    LIMIT = 50_000

    def __init__(self) -> None:
        self.findings: dict[tuple[str, str, str, str], Finding] = {}
        self.times: dict[str, datetime | None] = {"": None}

    def _time(self, value: Any) -> datetime | None:
        if value.__class__ is not str:
            return utc(value)
        return cached_time(value, self.times, self.LIMIT)

    def _findings(self, doc: Mapping[str, Any]) -> tuple[Finding, ...]:
        details = doc.get("finding_details")
        if details is None and "finding_details" not in doc:
            return _history_findings(doc)
        cache = self.findings
        out = []
        for f in details or ():
            key = (str(f.get("rule", "")), str(f.get("severity", "info")), str(f.get("owasp", "")),
                   str(f.get("explanation", "")))
            finding = cache.get(key)
            if finding is None:
                finding = Finding(*key)
                if len(cache) < self.LIMIT:
                    cache[key] = finding
            out.append(finding)
        return tuple(out)

    def identity(self, doc: Mapping[str, Any]) -> Identity:
        """An Identity rebuilt from a stored row (no provider details; usage tracking as recorded).
        Rows as this module writes them take the fast path; anything else the general one."""
        try:
            return self._fast(doc)
        except (KeyError, TypeError, AttributeError):
            return self.general(doc)

    def _fast(self, doc: Mapping[str, Any]) -> Identity:
        """Every key present, lists as lists, booleans as booleans (else KeyError/TypeError)."""
        stale, scopes, actions = doc["stale"], doc["scopes"], doc["actions"]
        if stale.__class__ is not bool or scopes.__class__ is not list or actions.__class__ is not list:
            raise TypeError
        cache = self.findings
        findings = []
        for f in doc["finding_details"]:
            key = (f["rule"], f["severity"], f["owasp"], f["explanation"])
            finding = cache.get(key)
            if finding is None:
                if not all(k.__class__ is str for k in key) or len(cache) >= self.LIMIT:
                    raise TypeError
                finding = cache[key] = Finding(*key)
            findings.append(finding)
        time = self._time
        return Identity(
            uid=str(doc["uid"]), source=str(doc["source"]), provider=str(doc["provider"]), kind=str(doc["kind"]),
            name=str(doc["name"]), owner=str(doc["owner"]), target=str(doc["target"]), scopes=tuple(map(str, scopes)),
            privilege=str(doc["privilege"] or "none"), created_at=time(doc["created_at"]),
            expires_at=time(doc["expires_at"]), last_used_at=time(doc["last_used_at"]),
            status=str(doc["status"] or "active"), credential=str(doc["credential"] or "static"), stale=stale,
            findings=tuple(findings), actions=tuple(map(str, actions)), url=str(doc["url"]),
            usage_tracked=doc["usage_tracked"] is not False, details={"from_store": True},
        )

    def general(self, doc: Mapping[str, Any]) -> Identity:
        """Any stored or history row: missing keys take their defaults, `;`-joined lists are split."""
        get = doc.get
        time = self._time
        return Identity(
            uid=str(doc["uid"]), source=str(get("source", "")), provider=str(get("provider", "")),
            kind=str(get("kind", "")), name=str(get("name", "")), owner=str(get("owner", "")),
            target=str(get("target", "")), scopes=_split(get("scopes")),
            privilege=str(get("privilege") or "none"), created_at=time(get("created_at")),
            expires_at=time(get("expires_at")), last_used_at=time(get("last_used_at")),
            status=str(get("status") or "active"), credential=str(get("credential") or "static"),
            stale=get("stale") in (True, "true", "True"), findings=self._findings(doc),
            actions=_split(get("actions")), url=str(get("url", "")),
            usage_tracked=get("usage_tracked", True) is not False, details={"from_store": True},
        )


def _history_findings(doc: Mapping[str, Any]) -> tuple[Finding, ...]:
    """A history row keeps rule ids only: severity and tag from the rule, its title as the text."""
    from nhitui.policy import RULES

    return tuple(Finding(rule=r, severity=RULES[r].severity, owasp=RULES[r].owasp,
                         explanation=f"{RULES[r].title} (as of the saved snapshot)")
                 if r in RULES else Finding(rule=r, severity="info", owasp="", explanation=r)
                 for r in _split(doc.get("findings")))


def from_doc(doc: Mapping[str, Any]) -> Identity:
    """An Identity rebuilt from a stored row (no provider details; usage tracking as recorded)."""
    return Decoder().identity(doc)
