"""The trust map: who can become what, every provider's federated trust in one page.

CI identities (repositories, projects, service accounts, or the admitted set in words when a
trust admits more than the inventory can name) on the left; what each can become on the right,
with its privilege and the trust's findings. Widest and most privileged first. Rows come from
`nhitui.trustmap.TrustIndex.rows()`, the same rows `nhitui trust` prints. Read-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.binding import Binding
from textual.content import Content

from nhitui.model import sanitize
from nhitui.tui.screens.info import TextModal

SEVERITY_STYLE = {"critical": "bold reverse $text-error", "high": "bold $text-error", "medium": "$text-warning",
                  "low": "$text-muted", "info": "$text-muted"}
SCOPE_STYLE = {"unknown": "bold $text-error", "any": "bold $text-error", "org": "$text-warning",
               "pattern": "$text-warning", "exact": "$text-success", "none": "$text-muted"}
WHO_WIDTH = 46
WHAT_WIDTH = 30


def _cut(text: str, width: int) -> str:
    text = sanitize(text)
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def trust_content(rows: Sequence[Mapping[str, Any]], width: int = 120) -> Content:
    """The map as one `Content`: plain sanitized strings, styles from theme variables (no markup).

    `width` (the terminal's) gives the left column whatever the fixed columns leave."""
    who_width = max(WHO_WIDTH, width - 84)
    if not rows:
        return Content.styled("No federated trust in the inventory: nothing can become anything through OIDC.",
                              "$text-muted")
    lines = [Content.assemble(
        (f"{'CI IDENTITY (who)':<{who_width}} {'SCOPE':<8} ", "bold"), ("\u2192 ", "bold"),
        (f"{'CAN BECOME':<{WHAT_WIDTH}} {'PROVIDER / KIND':<26} PRIV", "bold"))]
    for r in rows:
        refs = [x for x in r.get("refs") or () if x != "*"]
        who = str(r["who"]) + (f" [{', '.join(refs)}]" if refs and r.get("scope") == "exact" else "")
        if r.get("known"):
            who += f" ({len(r['known'])} known)"
        lines.append(Content.assemble(
            (f"{_cut(who, who_width):<{who_width}} ", ""),
            (f"{_cut(str(r['scope']), 8):<8} ", SCOPE_STYLE.get(str(r["scope"]), "")),
            ("\u2192 ", "$text-muted"),
            (f"{_cut(str(r['becomes']), WHAT_WIDTH):<{WHAT_WIDTH}} ", "bold"),
            (f"{_cut(str(r['provider']) + ' ' + str(r['kind']), 26):<26} ", "$text-muted"),
            (_cut(str(r["privilege"]), 6), "bold $text-error" if r["privilege"] == "admin" else ""),
        ))
        if r.get("findings"):
            lines.append(Content.assemble(
                (" " * 4, ""), (_cut(", ".join(r["findings"]), 140),
                                SEVERITY_STYLE.get(str(r.get("severity") or ""), ""))))
    lines += [Content(""), Content.styled(
        "Scope: exact = these repositories/refs; org = an org- or group-wide pattern; any = any repository of "
        "any org on the issuer; unknown = a condition nhitui cannot read (widest reading). "
        "Filter with assumable-by:REPO or reaches:REPO.", "$text-muted")]
    return Content("\n").join(lines)


class TrustScreen(TextModal):
    """The trust map as a read-only modal (key `t`, command palette "Trust map")."""

    BINDINGS = [Binding("escape,q,t", "close", "Close")]
    DEFAULT_CSS = """
    TrustScreen > #dialog { width: 100%; max-width: 100%; }
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        count = len({r["becomes_uid"] for r in rows})
        try:
            width = self.app.size.width
        except Exception:  # noqa: BLE001 - no running app (built outside one): the default width
            width = 120
        super().__init__(f"Trust map: who can become what ({len(rows)} paths to {count} identities)",
                         trust_content(rows, width))
        self.rows = list(rows)
