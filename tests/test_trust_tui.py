"""The trust map in the TUI: `t` and the command palette open it; the detail pane shows the links;
`assumable-by:` filters; hostile names render literally."""

from __future__ import annotations

import re

from test_tui_support import SIZE, ident, prefilled_app, screen_text

from nhitui.model import TRUSTS_DETAIL, ClaimCondition, FederatedTrust
from nhitui.tui.screens.trust import TrustScreen

CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f]")


def role(n: int, name: str, sub: str, op: str, privilege: str):
    t = FederatedTrust(issuer="https://token.actions.githubusercontent.com", grants=f"arn:aws:iam::1:role/{name}",
                       grants_kind="aws_role", privilege=privilege, audiences=("sts.amazonaws.com",),
                       conditions=(ClaimCondition("sub", op, (sub,), f'{{"StringLike": {{"sub": "{sub}"}}}}'),),
                       dialect="aws-iam", expected_audiences=("sts.amazonaws.com",))
    return ident(n, name=name, kind="iam_role", provider="aws", credential="federated", privilege=privilege,
                 target="123", details={TRUSTS_DETAIL: (t,)})


def rows():
    return [role(1, "wide-\x1b[31madmin", "repo:acme/*", "glob", "admin"),
            role(2, "api-deploy", "repo:acme/api:ref:refs/heads/main", "equals", "write"),
            ident(3, name="NPM_TOKEN", kind="actions_secret", provider="github", target="acme/api",
                  details={"repo": "acme/api"})]


async def test_trust_map_key_palette_links_and_filter(tmp_path):
    app = prefilled_app(tmp_path, rows())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TrustScreen)
        text = screen_text(app)
        assert "Trust map" in text and "org-wide: acme/*" in text and "api-deploy" in text
        assert text.index("org-wide: acme/*") < text.index("api-deploy")          # widest first
        assert "oidc-wildcard-sub" in text and not CONTROL.search(text.replace("\n", ""))
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TrustScreen)
        assert "Trust map" in {c.title for c in app.get_system_commands(app.screen)}

        app.set_filter("assumable-by:acme/api")
        await pilot.pause()
        assert sorted(i.name for i in app.view.identities()) == ["api-deploy", "wide-\ufffd[31madmin"]
        app.set_filter("name:NPM_TOKEN")
        await pilot.pause()
        app.table.focus()
        for _ in range(50):               # the graph for the detail pane is built off the first paint
            await pilot.pause(0.05)
            detail = app.query_one("#detail").text
            if "can assume" in detail:
                break
        assert "can assume" in detail and "api-deploy (aws iam_role, write)" in detail
