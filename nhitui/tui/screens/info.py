"""Read-only modals: help (every key, the filter language, PyPI), source status, a one-time secret."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from nhitui.model import SourceStatus, iso, sanitize

FILTER_HELP = (
    ("free words", "match name, owner, target and uid (case-insensitive substring)"),
    ("provider:github", "also kind: source: status: owner: target: name: scope: finding: uid: (`,` is OR, * wildcard)"),
    ("age>90d  unused>30d  expires<7d", "durations in d, w, m, y"),
    ("privilege>=write", "none < read < write < admin"),
    ("stale  never-used  no-expiry", "flags; also new federated static expired marked"),
    ("new", "absent from the previous history snapshot (marked + in the table)"),
    ("reaches:acme/api", "everything tied to a repository, including what it can become"),
    ("assumable-by:acme/api", "what a repository, project or ns/service-account can become (federated trust, "
                              "every provider)"),
    ("!term", "negates a term; terms combine with AND"),
)


def keys_table(bindings: Iterable[tuple[str, str, str]]) -> Content:
    lines = [Content.styled("Keys", "bold $text-accent")]
    ids = []
    for key, description, note in bindings:
        binding_id = ""
        if "[id " in note:
            note, _, binding_id = note.partition("[id ")
            binding_id = binding_id.rstrip("]")
            ids.append(binding_id)
        lines.append(Content.assemble((f"  {key:<16}", "bold"), (f"{description:<16}", ""),
                                      (note.strip(), "$text-muted")))
    if ids:
        lines.append(Content.assemble(
            ("  Rebind any key in the config: ", "$text-muted"), ('[keys] quit = "ctrl+q"', "bold"),
            ("; ids: ", "$text-muted"), ", ".join(ids)))
    return Content("\n").join(lines)


def help_content(bindings: Iterable[tuple[str, str, str]], read_only: bool) -> Content:
    bindings = list(bindings)
    history_key = next((k for k, _, note in bindings if "[id history]" in note), "h")
    parts: list[Content] = [keys_table(bindings), Content("")]
    parts.append(Content.styled("Filter language (/)", "bold $text-accent"))
    for example, meaning in FILTER_HELP:
        parts.append(Content.assemble((f"  {example:<34}", "bold"), meaning))
    parts.append(Content.assemble("  Example: ", ("stale privilege>=admin", "bold"),
                                  " finds every stale admin credential."))
    parts += [Content(""), Content.styled("Acting", "bold $text-accent")]
    if read_only:
        parts.append(Content("  Read-only mode: every action is hidden."))
    else:
        parts += [
            Content("  d acts on the cursor's row, ctrl+d on the marked rows (space marks, a marks all shown)."),
            Content("  The modal shows the exact call, the credential, and whether it can be undone;"),
            Content("  bulk or irreversible plans need the count or the name typed. u undoes the last"),
            Content("  reversible action. Every attempt is written to the journal before and after."),
        ]
    parts += [
        Content(""), Content.styled("Sources", "bold $text-accent"),
        Content("  The header shows each source: spinner while collecting, count, ok/partial/failed,"),
        Content("  rate-limit budget and blind spots. i lists what each source could not see, and why."),
        Content("  r rescans every source; R rescans only the source of the cursor's row."),
        Content(""), Content.styled(f"History ({history_key})", "bold $text-accent"),
        Content("  Each finished scan is saved as a snapshot ([history] save, keep, keep_days in the config)."),
        Content("  Identities absent from the previous snapshot are new: + in the table, filter term `new`."),
        Content(f"  {history_key} lists the snapshots; space selects two (or one and the current scan), "
                "enter compares:"),
        Content("  added, removed, changed, and unknown (their source was partial or failed, not removed)."),
        Content(""), Content.styled("PyPI", "bold $text-accent"),
        Content("  PyPI has no API to list or revoke API tokens, so nhitui cannot inventory them."),
        Content("  Review them by hand: https://pypi.org/manage/account/ (API tokens section) for each"),
        Content("  account, and each project's Publishing page for trusted publishers (OIDC)."),
        Content(""), Content.styled("Press Esc, q or ? to close.", "$text-muted"),
    ]
    return Content("\n").join(parts)


class TextModal(ModalScreen[None]):
    """A scrollable, read-only page of `Content`."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    DEFAULT_CSS = """
    TextModal { align: center middle; }
    TextModal > #dialog { width: 108; max-width: 95%; height: auto; max-height: 92%;
                          border: thick $accent 70%; background: $surface; padding: 0 1; }
    TextModal #title { text-style: bold; }
    TextModal VerticalScroll { height: auto; max-height: 100%; }
    """

    def __init__(self, title: str, body: Content) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Content.styled(self.title_text, "bold"), id="title")
            with VerticalScroll():
                yield Static(self.body, id="body")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)


class HelpScreen(TextModal):
    def __init__(self, bindings: Iterable[tuple[str, str, str]], read_only: bool) -> None:
        super().__init__("nhitui help", help_content(bindings, read_only))


def sources_content(statuses: Mapping[str, SourceStatus]) -> Content:
    if not statuses:
        return Content("No source is configured.")
    lines: list[Content] = []
    for s in statuses.values():
        style = {"ok": "$text-success", "partial": "$text-warning", "failed": "bold $text-error"}.get(s.state, "")
        lines.append(Content.assemble((sanitize(s.source), "bold $text-accent"), f"  ({sanitize(s.provider)})  ",
                                      (s.state, style), f"  {s.count:,} identities"))
        facts = f"  requests {s.requests}, retries {s.retries}"
        if s.rate_limit_remaining is not None:
            facts += f", rate-limit budget {s.rate_limit_remaining}"
            if s.rate_limit_limit:
                facts += f"/{s.rate_limit_limit}"
        known = s.facts if isinstance(s.facts, Mapping) else {}
        hits = known.get("secondary_limit_hits") or known.get("rate_limit_hits")
        if hits:    # the provider throttled us: the pacer waited as asked
            facts += f", throttled {hits} time(s)"
        if known.get("budget_forecast"):
            facts += f", budget: {sanitize(str(known['budget_forecast']))}"
        if s.started_at:
            facts += f", started {iso(s.started_at)}"
        if s.finished_at:
            facts += f", finished {iso(s.finished_at)}"
        lines.append(Content(facts))
        if s.error:
            lines.append(Content.assemble("  ", ("error: ", "bold $text-error"), sanitize(s.error)))
        note = s.facts.get("note") if isinstance(s.facts, Mapping) else None
        if note:
            lines.append(Content.assemble("  ", ("note: ", "bold $text-muted"), sanitize(note)))
        if s.blind_spots:
            lines.append(Content.styled(f"  blind spots ({len(s.blind_spots)}): not visible, so not shown as clean",
                                        "$text-warning"))
            for b in s.blind_spots:
                lines.append(Content.assemble("    \u2022 ", (sanitize(b.what), "bold"), ": ", sanitize(b.reason)))
        unseen = s.facts.get("not_visible") if isinstance(s.facts, Mapping) else None
        if unseen:
            lines.append(Content.styled("  what this provider never shows (not a blind spot of this scan):",
                                        "$text-muted"))
            for note in unseen if isinstance(unseen, (list, tuple)) else [unseen]:
                lines.append(Content.assemble("    \u2022 ", sanitize(note)))
        lines.append(Content(""))
    return Content("\n").join(lines)


class SourcesScreen(TextModal):
    def __init__(self, statuses: Mapping[str, SourceStatus]) -> None:
        super().__init__("Sources: state, budget and blind spots", sources_content(statuses))


class SecretScreen(ModalScreen[None]):
    """A value the provider returned once (a rotated token): shown here once, never logged."""

    BINDINGS = [Binding("escape,enter", "close", "Close"), Binding("c", "copy", "Copy")]

    DEFAULT_CSS = """
    SecretScreen { align: center middle; }
    SecretScreen > #dialog { width: 90; max-width: 95%; height: auto; border: thick $warning 70%;
                             background: $surface; padding: 0 1; }
    """

    def __init__(self, label: str, secret: str) -> None:
        super().__init__()
        self.label = label
        self._secret = secret

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Content.assemble(("New secret for ", "bold"), (sanitize(self.label), "bold $text-accent")))
            yield Static(Content.styled("Shown once: store it now. nhitui never writes it anywhere.",
                                        "$text-warning"))
            yield Static(Content.styled(sanitize(self._secret), "bold reverse"), id="secret")
            yield Static(Content.styled("c copies it to the clipboard; Esc or Enter closes.", "$text-muted"))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self._secret)
        self.notify("Copied to the clipboard.", markup=False)

    def action_close(self) -> None:
        self._secret = ""
        self.query_one("#secret", Static).update("")
        self.dismiss(None)
