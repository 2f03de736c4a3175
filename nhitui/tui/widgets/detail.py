"""The detail pane: every field of the cursor's identity, its findings, links, actions and URL.

Built as `Content` from sanitized plain strings; labels carry theme-variable styles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from nhitui.model import Action, FederatedTrust, Identity, iso, sanitize
from nhitui.trust import assess
from nhitui.tui.view import age_text, expires_text, last_used_text

SEVERITY_STYLE = {"critical": "bold reverse $text-error", "high": "bold $text-error",
                  "medium": "$text-warning", "low": "$text-muted", "info": "$text-muted"}
REVERSIBLE = {"yes": ("reversible", "$text-success"), "holder": ("holder can restore", "$text-warning"),
              "no": ("IRREVERSIBLE", "bold $text-error")}
LABEL = "$text-muted"
LABEL_WIDTH = 13


def _line(label: str, value: str, style: str = "") -> Content:
    return Content.assemble((f"{label:<{LABEL_WIDTH}}", LABEL), (sanitize(value), style))


def _when(value: datetime | None, relative: str) -> str:
    return f"{iso(value)}  ({relative})" if value is not None else relative


def _detail_value(value: Any) -> str:
    if isinstance(value, FederatedTrust):
        return f"{value.issuer} admits {assess(value).label()}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(_detail_value(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={_detail_value(v)}" for k, v in value.items())
    return str(value)


def describe(identity: Identity, now: datetime, links: Mapping[str, Sequence[str]],
             actions: Sequence[Action], read_only: bool, new: bool = False) -> tuple[Content, Content]:
    """The detail of one identity: (fields, findings + links + actions); `new`: absent from the
    previous history snapshot."""
    i = identity
    lines: list[Content] = [
        Content.assemble((sanitize(i.name) or "(no name)", "bold $text-accent")),
        _line("uid", i.uid),
        _line("provider", f"{i.provider} \u00b7 {i.kind} \u00b7 source {i.source}"),
        _line("owner", i.owner or "\u2014"),
        _line("target", i.target or "\u2014"),
        _line("privilege", i.privilege, "bold $text-error" if i.privilege == "admin" else ""),
        _line("scopes", ", ".join(i.scopes) or "\u2014"),
        _line("credential", i.credential),
        _line("status", i.status + ("  \u00b7 STALE" if i.stale else ""), "$text-warning" if i.stale else ""),
        _line("created", _when(i.created_at, age_text(i, now) + " old" if i.created_at else "unknown")),
        _line("last used", _when(i.last_used_at, _last_used_phrase(i, now))),
        _line("expires", _when(i.expires_at, expires_text(i, now))),
        _line("url", i.url or "\u2014", "underline" if i.url else ""),
    ]
    if new:
        lines.insert(9, _line("history", "NEW: not in the previous snapshot", "bold $text-success"))
    extra = {k: v for k, v in i.details.items() if v not in (None, "", [], {}, ())}
    for key in sorted(extra)[:20]:
        value = _detail_value(extra[key])
        if len(value) > 300:
            value = value[:299] + "\u2026"
        lines.append(_line(str(key)[:LABEL_WIDTH - 1], value))
    fields = Content("\n").join(lines)

    lines = []
    if i.findings:
        lines.append(Content.styled(f"Findings ({len(i.findings)})", "bold"))
        for f in i.findings:
            lines.append(Content.assemble(
                "  ", (f"{f.severity.upper():<8}", SEVERITY_STYLE.get(f.severity, "")), " ",
                (f"{sanitize(f.owasp):<5}", "$text-accent"), " ", (sanitize(f.rule), "bold"),
            ))
            lines.append(Content.assemble("      ", sanitize(f.explanation)))
    else:
        lines.append(Content.styled("No findings.", "$text-success"))

    if links:
        lines.append(Content(""))
        lines.append(Content.styled("Links", "bold"))
        for relation, targets in links.items():
            shown = ", ".join(sanitize(t) for t in list(targets)[:12])
            more = f" (+{len(targets) - 12} more)" if len(targets) > 12 else ""
            lines.append(Content.assemble("  ", (f"{relation}: ", LABEL), shown + more))

    lines.append(Content(""))
    if read_only:
        lines.append(Content.styled("Actions hidden: read-only mode.", "$text-muted"))
    elif actions:
        lines.append(Content.styled("Actions (d to act; reversible first)", "bold"))
        for a in actions:
            label, style = REVERSIBLE.get(a.reversible, (sanitize(a.reversible), ""))
            lines.append(Content.assemble("  ", (f"{sanitize(a.name):<12} ", "bold"), (f"{label:<20}", style),
                                          sanitize(a.description)))
            if a.call:
                lines.append(Content.assemble("      ", (sanitize(a.call), LABEL)))
    elif i.actions:
        lines.append(Content.assemble(("Actions ", "bold"), ", ".join(sanitize(a) for a in i.actions),
                                      ("  (the source is not loaded: refresh to act)", LABEL)))
    else:
        lines.append(Content.styled("No action available for this identity.", "$text-muted"))
    return fields, Content("\n").join(lines)


def _last_used_phrase(i: Identity, now: datetime) -> str:
    text = last_used_text(i, now)
    if text == "never":
        return "never used"
    if text == "?":
        return "unknown (the provider does not report use)"
    return f"{text} ago"


class DetailPane(VerticalScroll):
    """Scrollable detail of one identity."""

    DEFAULT_CSS = """
    DetailPane {
        background: $surface;
        border-top: solid $panel-lighten-2;
        padding: 0 1;
    }
    DetailPane > Horizontal { height: auto; }
    DetailPane #detail-fields { width: 1fr; }
    DetailPane #detail-risk { width: 1fr; padding-left: 2; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(Content.styled("No identity selected.", "$text-muted"), id="detail-fields")
            yield Static("", id="detail-risk")

    def show(self, fields: Content, risk: Content | None = None) -> None:
        self.query_one("#detail-fields", Static).update(fields)
        self.query_one("#detail-risk", Static).update(risk or Content(""))
        self.scroll_home(animate=False)

    @property
    def text(self) -> str:
        """The plain text shown (for tests)."""
        fields = self.query_one("#detail-fields", Static).visual
        risk = self.query_one("#detail-risk", Static).visual
        return f"{getattr(fields, 'plain', fields)}\n{getattr(risk, 'plain', risk)}"
