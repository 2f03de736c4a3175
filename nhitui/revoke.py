"""The one path every action takes: plan, confirm, execute, journal.

A plan names, per identity, the action, whether it can be undone, the credential that will be
used and the exact API call; nothing is sent until `execute`. Each call is journaled before
(intent) and after (result). Plan ids are derived from their steps, so re-running the same
revocation after a crash skips what the journal shows finished and does only what is left.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nhitui.collect import REDACTOR, describe_error, make_connector
from nhitui.inventory import Inventory
from nhitui.journal import Journal
from nhitui.model import Action, ActionResult, Identity
from nhitui.policy import evaluate

JOURNAL_KEYS = ("plan", "attempt", "uid", "source", "provider", "kind", "name", "action", "reversible",
                "credential")


# Actions that give access back; they run only when asked for by name (or through undo).
RESTORING = {"activate", "unpause", "restore", "restore-sessions", "enable", "reactivate"}


class RevokeError(Exception):
    """A plan that cannot be made (read-only mode, unknown action); safe to show as is."""


@dataclass(frozen=True)
class Step:
    uid: str
    source: str
    provider: str
    kind: str
    name: str
    action: str
    reversible: str
    call: str
    description: str
    credential: str
    warning: str = ""
    undo: str = ""


@dataclass
class Plan:
    id: str
    steps: list[Step]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def irreversible(self) -> bool:
        return any(s.reversible != "yes" for s in self.steps)

    @property
    def bulk(self) -> bool:
        return len(self.steps) > 1

    def needs_typed_confirmation(self) -> bool:
        return self.bulk or self.irreversible

    def confirmation_word(self) -> str:
        """What a human must type: the count for a bulk action, the name for one irreversible action.

        A name that cannot be typed (replaced control characters, very long) falls back to the
        action's name, so a hostile title cannot make confirmation impossible.
        """
        if self.bulk:
            return str(len(self.steps))
        if not self.steps:
            return ""
        name = self.steps[0].name
        if not name or "\ufffd" in name or not name.isprintable() or len(name) > 60:
            return self.steps[0].action
        return name

    def lines(self) -> list[str]:
        out = []
        for s in self.steps:
            rev = {"yes": "reversible", "holder": "holder can restore", "no": "IRREVERSIBLE"}.get(s.reversible,
                                                                                                  s.reversible)
            out.append(f"{s.action:<16} {rev:<19} {s.uid}  [{s.call}]  with {s.credential}"
                       + (f"  ! {s.warning}" if s.warning else ""))
        for uid, reason in self.skipped:
            out.append(f"{'skip':<16} {'':<19} {uid}  ({reason})")
        return out


@dataclass
class Outcome:
    step: Step
    state: str          # ok, already-absent, failed, skipped
    status_code: int | None = None
    message: str = ""
    secret: str | None = field(default=None, repr=False)


def credential_label(settings: dict[str, Any], kind: str = "") -> tuple[str, str]:
    """(which credential will act, warning if it is the read one)."""
    if kind == "fine_grained_pat" and settings.get("type") == "github" and settings.get("app_id"):
        # GitHub accepts only App tokens on the PAT-grant endpoints (see connectors/github/auth.py).
        return f"GitHub App {settings['app_id']} installation", ""
    if settings.get("type") == "aws":
        if settings.get("revoke_profile"):
            return f"revoke_profile {settings['revoke_profile']}", ""
        return (f"read profile {settings.get('profile') or '(default chain)'}",
                "no revoke_profile configured: acting with the read identity")
    if settings.get("type") == "kubernetes":
        if settings.get("revoke_context"):
            return f"revoke_context {settings['revoke_context']}", ""
        return (f"read context {', '.join(settings.get('contexts') or []) or '(current context)'}",
                "no revoke_context configured: acting with the read identity")
    if settings.get("type") == "gcp":
        base = settings.get("revoke_token") or settings.get("token") or "Application Default Credentials"
        if settings.get("revoke_impersonate"):
            return f"{base} impersonating {settings['revoke_impersonate']}", ""
        if settings.get("revoke_token"):
            return f"revoke_token {settings['revoke_token']}", ""
        who = f"{base} impersonating {settings['impersonate']}" if settings.get("impersonate") else base
        return f"read identity: {who}", "no revoke_impersonate or revoke_token configured: acting with the read identity"
    if settings.get("type") == "azure" and settings.get("revoke_client_id"):
        return f"revoke_client_id {settings['revoke_client_id']}", ""
    if settings.get("revoke_token"):
        return f"revoke_token {settings['revoke_token']}", ""
    ref = (settings.get("token") or settings.get("app_private_key") or settings.get("impersonate")
           or settings.get("client_id") or "(default credential chain)")
    return f"read token {ref}", "no revoke_token configured: acting with the read credential"


def plan_id(pairs: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha256("\n".join(sorted(f"{u}\x00{a}" for u, a in pairs)).encode()).hexdigest()
    return "p-" + digest[:12]


class Revoker:
    """Plans and runs actions for the TUI and `nhitui revoke`; keeps the undo stack."""

    def __init__(self, inventory: Inventory, sources: list[dict[str, Any]], journal: Journal,
                 read_only: bool = False, connectors: dict[str, Any] | None = None,
                 concurrency: int = 4) -> None:
        self.inventory = inventory
        self.sources = {s["name"]: s for s in sources}
        self.journal = journal
        self.read_only = read_only
        self.connectors: dict[str, Any] = connectors if connectors is not None else {}
        self.concurrency = concurrency
        self.undo_stack: list[tuple[str, str]] = []   # (uid, undo action) of the last reversible actions

    def connector(self, source: str) -> Any:
        if source not in self.connectors:
            if source not in self.sources:
                raise RevokeError(f"unknown source {source!r}")
            self.connectors[source] = make_connector(self.sources[source])
        return self.connectors[source]

    def available(self, identity: Identity) -> list[Action]:
        if self.read_only or identity.source not in self.sources:
            return []
        try:
            return list(self.connector(identity.source).actions(identity))
        except Exception:  # noqa: BLE001 - a connector that cannot load offers no action
            return []

    def plan(self, uids: Iterable[str], action: str | None = None) -> Plan:
        """Plan `action` (default: each identity's first, i.e. most reversible, action)."""
        if self.read_only:
            raise RevokeError("read-only mode: actions are disabled")
        steps: list[Step] = []
        skipped: list[tuple[str, str]] = []
        for uid in dict.fromkeys(uids):
            identity = self.inventory.get(uid)
            if identity is None:
                skipped.append((uid, "not in the inventory"))
                continue
            actions = self.available(identity)
            if action:
                chosen = next((a for a in actions if a.name == action), None)
            else:   # the first containment action: undo-type actions never run by default
                chosen = next((a for a in actions if a.name not in RESTORING), None)
            if chosen is None:
                names = ", ".join(a.name for a in actions) or "none"
                why = ""
                if not actions:
                    # e.g. a PAT grant without a GitHub App configured: the connector says what is needed
                    try:
                        why = getattr(self.connector(identity.source), "unavailable", lambda _i: "")(identity) or ""
                    except Exception:  # noqa: BLE001 - a connector that cannot load says nothing more
                        why = ""
                reason = f"no action {action!r} (available: {names})" if action else "no action"
                skipped.append((uid, f"{reason}: {why}" if why else reason))
                continue
            label, warning = credential_label(self.sources[identity.source], identity.kind)
            steps.append(Step(uid=uid, source=identity.source, provider=identity.provider, kind=identity.kind,
                              name=identity.name, action=chosen.name, reversible=chosen.reversible,
                              call=chosen.call, description=chosen.description, credential=label,
                              warning=warning, undo=chosen.undo))
        # The id depends on what was asked, not on what is still present, so re-running the same
        # request after a crash finds the same plan in the journal.
        requested = [(uid, action or "default") for uid in dict.fromkeys(uids)]
        return Plan(id=plan_id(requested), steps=steps, skipped=skipped)

    def close_absent(self, plan: Plan, complete_sources: set[str]) -> list[str]:
        """Journal `already-absent` for asked-for uids that a complete scan no longer finds.

        After a crash, an intent without a result may have reached the provider: the identity is
        gone now. Recording that closes the intent, so the journal tells the whole story.
        """
        closed = []
        pending = {r["uid"]: r for r in self.journal.pending() if r.get("plan") == plan.id}
        for uid, reason in plan.skipped:
            if reason != "not in the inventory" or uid.split(":", 1)[0] not in complete_sources:
                continue
            intent = pending.get(uid)
            if intent is not None:
                self.journal.append({"event": "result", **{k: intent[k] for k in JOURNAL_KEYS if k in intent},
                                     "result": "already-absent", "status_code": None,
                                     "message": "not found at the provider on re-run"})
            closed.append(uid)
        return closed

    def plan_undo(self) -> Plan | None:
        """A plan reversing the most recent reversible action, or None."""
        while self.undo_stack:
            uid, undo = self.undo_stack[-1]
            if self.inventory.get(uid) is None:
                self.undo_stack.pop()
                continue
            plan = self.plan([uid], undo)
            if plan.steps:
                return plan
            self.undo_stack.pop()
        return None

    async def execute(self, plan: Plan, on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        if self.read_only:
            raise RevokeError("read-only mode: actions are disabled")
        done = self.journal.done(plan.id)
        gate = asyncio.Semaphore(self.concurrency)
        outcomes: list[Outcome] = []

        async def run(step: Step) -> None:
            async with gate:
                if (step.uid, step.action) in done:
                    outcome = Outcome(step, "skipped", message="already done by an earlier run of this plan")
                else:
                    outcome = await self._run_step(plan, step)
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)

        await asyncio.gather(*(run(s) for s in plan.steps))
        order = {s.uid: n for n, s in enumerate(plan.steps)}
        outcomes.sort(key=lambda o: order[o.step.uid])
        return outcomes

    async def _run_step(self, plan: Plan, step: Step) -> Outcome:
        attempt = uuid.uuid4().hex[:16]
        values = (plan.id, attempt, step.uid, step.source, step.provider, step.kind, step.name, step.action,
                  step.reversible, step.credential)
        base = dict(zip(JOURNAL_KEYS, values))
        self.journal.append({"event": "intent", **base, "call": step.call})
        identity = self.inventory.get(step.uid)
        try:
            if identity is None:
                result = ActionResult(state="already-absent", message="not in the inventory any more")
            else:
                result = await self.connector(step.source).execute(identity, step.action)
        except Exception as exc:  # noqa: BLE001 - journaled as failed, never lost
            result = ActionResult(state="failed", message=describe_error(exc))
        message = REDACTOR.scrub(str(result.message or ""))[:500]
        self.journal.append({"event": "result", **base, "result": result.state,
                             "status_code": result.status_code, "message": message})
        if result.state in ("ok", "already-absent"):
            # Marked first: a refresh that listed the provider before this call must not bring the
            # old row back, even if it lands between the mark and the change below.
            self.inventory.mark_acted(step.uid)
            if result.identity is not None and result.identity.uid != step.uid:
                self.inventory.mark_acted(result.identity.uid)
            if result.removed or result.state == "already-absent":
                self.inventory.remove([step.uid])
            elif result.identity is not None:
                self._store(result.identity, identity)
            if result.state == "ok" and step.action in RESTORING:
                # An undo consumes its entry rather than stacking a redo of itself.
                if (step.uid, step.action) in self.undo_stack:
                    self.undo_stack.reverse()
                    self.undo_stack.remove((step.uid, step.action))
                    self.undo_stack.reverse()
            elif result.state == "ok" and step.reversible == "yes" and step.undo:
                self.undo_stack.append((step.uid, step.undo))
        return Outcome(step, result.state, result.status_code, message, result.secret)

    def _store(self, fresh: Identity, old: Identity | None) -> None:
        """Put the provider's answer in the inventory (a rotated token may come back with a new uid)."""
        if old is not None and fresh.uid != old.uid:
            self.inventory.remove([old.uid])
        self.inventory.update(evaluate([fresh], self.inventory.statuses)[0])
