"""The facet sidebar: counts by provider, kind, status and finding over the visible rows.

Selecting a value posts `FacetList.Selected(term)`; the app adds (or removes) the filter term.
Prompts are `Content` objects and the list has markup off: values come from providers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from nhitui.model import Identity, sanitize

FACETS = ("provider", "kind", "status", "finding")
LIMIT = 25
_PLAIN = re.compile(r"^[A-Za-z0-9_.@/\[\]-]+$")


def term_for(facet: str, value: str) -> str:
    """The filter term selecting `value` of `facet`, quoted when the value needs it."""
    if _PLAIN.match(value):
        return f"{facet}:{value}"
    return f'{facet}:"{value}"' if '"' not in value else f"{facet}:{value.replace(' ', '?')}"


def count_facets(identities: Iterable[Identity]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {f: Counter() for f in FACETS}
    providers, kinds, statuses, findings = (counts[f] for f in FACETS)
    for i in identities:
        providers[i.provider] += 1
        kinds[i.kind] += 1
        statuses[i.status] += 1
        for f in i.findings:
            findings[f.rule] += 1
    return counts


class FacetList(OptionList):
    """Facet values with counts; headers are disabled options."""

    DEFAULT_CSS = """
    FacetList {
        width: 26;
        height: 1fr;
        border: none;
        border-right: solid $panel-lighten-2;
        background: $surface;
        padding: 0;
        scrollbar-size-vertical: 1;
    }
    """

    class Selected(Message):
        def __init__(self, term: str) -> None:
            super().__init__()
            self.term = term

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(markup=False, id=id)
        self._signature: tuple[object, ...] = ()
        self.active: set[str] = set()

    def update_counts(self, counts: dict[str, Counter[str]], active: set[str]) -> None:
        signature = tuple((f, tuple(sorted(counts[f].items()))) for f in FACETS) + (tuple(sorted(active)),)
        if signature == self._signature:
            return
        self._signature = signature
        self.active = active
        highlighted = self.highlighted_option.id if self.highlighted_option is not None else None
        options: list[Option] = []
        for facet in FACETS:
            values = counts[facet].most_common(LIMIT)
            options.append(Option(Content.styled(facet.upper(), "bold $text-accent"), id=f"#{facet}",
                                  disabled=True))
            if not values:
                options.append(Option(Content.styled("  \u2014", "$text-muted"), id=f"#{facet}-none",
                                      disabled=True))
            for value, count in values:
                term = term_for(facet, value)
                on = term in active
                label = Content.assemble(("\u2713 " if on else "  ", "$text-success"),
                                         (sanitize(value)[:14].ljust(14), "bold" if on else ""),
                                         (f"{count:>6,}", "$text-muted"))
                options.append(Option(label, id=term))
        self.clear_options()
        self.add_options(options)
        if highlighted is not None:
            try:
                self.highlighted = self.get_option_index(highlighted)
            except Exception:  # noqa: BLE001 - the option vanished: leave the highlight alone
                pass

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id and not event.option.id.startswith("#"):
            self.post_message(self.Selected(event.option.id))
