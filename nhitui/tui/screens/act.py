"""The confirmation modal: what will happen, to which identities, reversible or not, with which
credential; typed confirmation for bulk or irreversible plans; then the result per identity.

Every provider string (names, uids, messages) is shown as plain `Content`; buttons carry only
fixed labels. Nothing is sent before the confirm step, and the secret a rotation returns is never
shown here: the app shows it once in `SecretScreen`.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from nhitui import revoke
from nhitui.model import Action, sanitize
from nhitui.revoke import Outcome, Plan, RevokeError, Revoker

# Actions that give access back: offered, but never the default choice of `d`.
RESTORING = frozenset(getattr(revoke, "RESTORING", ())) | {"activate", "unpause", "restore", "enable",
                                                           "reactivate", "restore-sessions"}

REVERSIBLE = {"yes": ("reversible", "$text-success"), "holder": ("holder can restore", "$text-warning"),
              "no": ("IRREVERSIBLE", "bold $text-error")}
RANK = {"yes": 0, "holder": 1, "no": 2}
STATE_STYLE = {"ok": ("\u2714 done", "$text-success"), "already-absent": ("\u2714 already gone", "$text-success"),
               "failed": ("\u2716 failed", "bold $text-error"), "skipped": ("\u2013 skipped", "$text-muted")}
SHOWN_STEPS = 40
EACH_FIRST = "\x00first"


def confirmation_word(plan: Plan) -> str:
    """What must be typed: the count (bulk) or the name (one irreversible action).

    A provider name that cannot be typed (replaced control characters, very long) falls back to
    the action's name, so a hostile title cannot make confirmation impossible.
    """
    return plan.confirmation_word()


def action_choices(revoker: Revoker, uids: Sequence[str]) -> list[Action]:
    """Actions offered across the targets, each name once: containment actions first (most
    reversible first), actions that restore access last."""
    seen: dict[str, tuple[int, int, Action]] = {}
    order = 0
    for uid in uids:
        identity = revoker.inventory.get(uid)
        if identity is None:
            continue
        for action in revoker.available(identity):
            if action.name not in seen:
                rank = RANK.get(action.reversible, 3) + (10 if action.name in RESTORING else 0)
                seen[action.name] = (rank, order, action)
                order += 1
    return [a for _, _, a in sorted(seen.values(), key=lambda t: (t[0], t[1]))]


def describe_plan(plan: Plan) -> Content:
    lines: list[Content] = []
    for step in plan.steps[:SHOWN_STEPS]:
        label, style = REVERSIBLE.get(step.reversible, (sanitize(step.reversible), ""))
        lines.append(Content.assemble(("\u2022 ", "$text-accent"), (sanitize(step.action), "bold"), "  ",
                                      (label, style), "  ", (sanitize(step.name), "bold"),
                                      "  ", (sanitize(step.uid), "$text-muted")))
        lines.append(Content.assemble("    call ", (sanitize(step.call), "$text-muted")))
        lines.append(Content.assemble("    with ", sanitize(step.credential)))
        if step.warning:
            lines.append(Content.assemble("    ", ("! " + sanitize(step.warning), "$text-warning")))
    if len(plan.steps) > SHOWN_STEPS:
        lines.append(Content.styled(f"\u2026 and {len(plan.steps) - SHOWN_STEPS} more identities", "bold"))
    for uid, reason in plan.skipped[:SHOWN_STEPS]:
        lines.append(Content.assemble(("\u2013 skip ", "$text-muted"), sanitize(uid), ("  " + sanitize(reason),
                                                                                      "$text-muted")))
    if len(plan.skipped) > SHOWN_STEPS:
        lines.append(Content.styled(f"\u2026 and {len(plan.skipped) - SHOWN_STEPS} more skipped", "$text-muted"))
    if not plan.steps:
        lines.append(Content.styled("Nothing to do: no target offers this action.", "$text-warning"))
    return Content("\n").join(lines)


def describe_outcome(outcome: Outcome) -> Content:
    label, style = STATE_STYLE.get(outcome.state, (sanitize(outcome.state), ""))
    code = f" HTTP {outcome.status_code}" if outcome.status_code else ""
    message = sanitize(outcome.message)
    return Content.assemble((f"{label:<16}", style), (sanitize(outcome.step.name), "bold"), " ",
                            (sanitize(outcome.step.uid), "$text-muted"), code, (f"  {message}" if message else ""))


class ActScreen(ModalScreen[list[Outcome] | None]):
    """Choose an action, read the plan, confirm (typed when bulk or irreversible), see results."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("y", "confirm", "Confirm", show=False),
    ]

    DEFAULT_CSS = """
    ActScreen { align: center middle; }
    ActScreen > #dialog {
        width: 110; max-width: 95%; height: auto; max-height: 90%;
        border: thick $error 70%; background: $surface; padding: 0 1;
    }
    ActScreen #title { text-style: bold; margin-bottom: 1; }
    ActScreen #actions { height: auto; max-height: 7; border: round $panel-lighten-2; }
    ActScreen #plan-scroll { height: auto; max-height: 14; }
    ActScreen #results-scroll { height: auto; max-height: 10; }
    ActScreen #prompt { margin-top: 1; }
    ActScreen #confirm-input { margin: 0; }
    ActScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ActScreen Button { margin-left: 2; }
    """

    def __init__(self, revoker: Revoker, uids: Sequence[str], plan: Plan | None = None,
                 title: str = "") -> None:
        super().__init__()
        self.revoker = revoker
        self.uids = list(dict.fromkeys(uids))
        self.fixed_plan = plan
        self.title_text = title
        self.choices: list[Action] = [] if plan is not None else action_choices(revoker, self.uids)
        self.plan: Plan | None = plan
        self.outcomes: list[Outcome] = []
        self.state = "planning"   # planning -> running -> done

    # --- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(id="title")
            if self.fixed_plan is None:
                options = []
                mixed = len({self._first_action(u) for u in self.uids}) > 1
                if mixed:
                    options.append(Option(Content.assemble(("each identity's own first action", "bold"),
                                                           ("  reversible first", "$text-muted")), id=EACH_FIRST))
                for a in self.choices:
                    label, style = REVERSIBLE.get(a.reversible, (sanitize(a.reversible), ""))
                    options.append(Option(Content.assemble((f"{sanitize(a.name):<12} ", "bold"), (f"{label:<20}", style),
                                                            sanitize(a.description)), id=a.name))
                yield OptionList(*options, id="actions", markup=False)
            with VerticalScroll(id="plan-scroll"):
                yield Static(id="plan")
            yield Static(id="prompt")
            yield Input(id="confirm-input", placeholder="type here to confirm", select_on_focus=False)
            with VerticalScroll(id="results-scroll"):
                yield Static(id="results")
            with Horizontal(id="buttons"):
                yield Button("Confirm", id="confirm", variant="error")
                yield Button("Cancel", id="cancel")

    def _first_action(self, uid: str) -> str:
        """What `plan(uids)` picks for this identity by default: its first containment action."""
        identity = self.revoker.inventory.get(uid)
        actions = self.revoker.available(identity) if identity is not None else []
        return next((a.name for a in actions if a.name not in RESTORING), "")

    def on_mount(self) -> None:
        if self.fixed_plan is None:
            options = self.query_one("#actions", OptionList)
            if options.option_count:
                options.highlighted = 0
                options.focus()
            self._replan(options.get_option_at_index(0).id if options.option_count else None)
        else:
            self._show_plan()
        self.query_one("#results-scroll").display = False

    # --- planning --------------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#actions")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if self.state == "planning":
            self._replan(event.option.id)

    @on(OptionList.OptionSelected, "#actions")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if self.state != "planning":
            return
        self._replan(event.option.id)
        typed = self.query_one("#confirm-input", Input)
        if typed.display:
            typed.focus()
        else:
            self.query_one("#confirm", Button).focus()

    def _replan(self, action: str | None) -> None:
        try:
            self.plan = self.revoker.plan(self.uids, None if action in (None, EACH_FIRST) else action)
        except RevokeError as exc:
            self.plan = None
            self.query_one("#plan", Static).update(Content.styled(sanitize(str(exc)), "$text-error"))
            self.query_one("#confirm", Button).disabled = True
            return
        self._show_plan()

    @property
    def needs_typing(self) -> bool:
        return self.plan is not None and self.plan.needs_typed_confirmation()

    @property
    def expected_word(self) -> str:
        return confirmation_word(self.plan) if self.plan is not None else ""

    def _show_plan(self) -> None:
        plan = self.plan
        assert plan is not None
        n = len(plan.steps)
        title = self.title_text or (f"Act on {n} identit{'y' if n == 1 else 'ies'}")
        irreversible = plan.irreversible
        self.query_one("#title", Static).update(Content.assemble(
            (title, "bold"), "   ",
            ("IRREVERSIBLE" if irreversible else "reversible", "bold $text-error" if irreversible
             else "bold $text-success"),
        ))
        self.query_one("#plan", Static).update(describe_plan(plan))
        prompt = self.query_one("#prompt", Static)
        typed = self.query_one("#confirm-input", Input)
        confirm = self.query_one("#confirm", Button)
        if not plan.steps:
            prompt.update(Content.styled("Nothing to confirm. Esc closes.", "$text-muted"))
            typed.display = False
            confirm.disabled = True
            return
        if self.needs_typing:
            why = "bulk" if plan.bulk else "irreversible"
            what = "the number of identities" if plan.bulk else "the name"
            prompt.update(Content.assemble(f"This is {why}: type {what} ", (self.expected_word, "bold reverse"),
                                           " and press Enter (Esc cancels)."))
            typed.display = True
            typed.value = ""
            confirm.disabled = True
        else:
            prompt.update(Content.assemble("Press ", ("y", "bold"), " or ", ("Confirm", "bold"),
                                           " to proceed, ", ("Esc", "bold"), " to cancel."))
            typed.display = False
            confirm.disabled = False

    @on(Input.Changed, "#confirm-input")
    def _typed(self, event: Input.Changed) -> None:
        if self.state == "planning":
            self.query_one("#confirm", Button).disabled = event.value.strip() != self.expected_word

    def on_key(self, event: events.Key) -> None:
        """Typing while the action list has focus goes into the confirmation box: the prompt says
        "type the name", and a responder who does so must not lose the keys to the list."""
        typed = self.query_one("#confirm-input", Input)
        if (self.state == "planning" and typed.display and self.focused is not typed
                and event.is_printable and event.character and not event.character.isspace()):
            event.stop()
            event.prevent_default()
            typed.focus()
            typed.insert_text_at_cursor(event.character)

    @on(Input.Submitted, "#confirm-input")
    def _typed_submit(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    # --- running ---------------------------------------------------------------------------------

    def action_confirm(self) -> None:
        if self.state == "done":
            self.dismiss(self.outcomes)
            return
        if self.state != "planning" or self.plan is None or not self.plan.steps:
            return
        if self.needs_typing and self.query_one("#confirm-input", Input).value.strip() != self.expected_word:
            self.app.bell()
            return
        self.state = "running"
        for widget in self.query("#actions, #confirm-input"):
            widget.disabled = True
        self.query_one("#confirm", Button).disabled = True
        self.query_one("#cancel", Button).disabled = True
        self.query_one("#prompt", Static).update(Content.styled("Working\u2026", "$text-accent"))
        self.query_one("#results-scroll").display = True
        self.run_worker(self._execute(self.plan), group="act", description="execute plan", exit_on_error=False)

    async def _execute(self, plan: Plan) -> None:
        try:
            await self.revoker.execute(plan, self._on_outcome)
        except Exception as exc:  # noqa: BLE001 - shown, never a crash; the journal has the intent
            self.query_one("#prompt", Static).update(Content.styled(f"Stopped: {sanitize(str(exc))}",
                                                                    "bold $text-error"))
        self._finish()

    def _on_outcome(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.query_one("#results", Static).update(Content("\n").join(describe_outcome(o) for o in self.outcomes))

    def _finish(self) -> None:
        self.state = "done"
        ok = sum(1 for o in self.outcomes if o.state in ("ok", "already-absent"))
        failed = sum(1 for o in self.outcomes if o.state == "failed")
        self.query_one("#prompt", Static).update(Content.assemble(
            (f"{ok} done", "bold $text-success"), ", ",
            (f"{failed} failed", "bold $text-error" if failed else "$text-muted"),
            ". Written to the journal. Enter or Esc closes."))
        close = self.query_one("#confirm", Button)
        close.label = "Close"
        close.variant = "primary"
        close.disabled = False
        close.focus()
        self.query_one("#cancel", Button).display = False

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        if self.state == "running":
            self.app.bell()
            return
        self.dismiss(self.outcomes if self.state == "done" else None)
