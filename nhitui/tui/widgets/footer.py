"""The key footer, rebuilt only when keys appear or change, not when some merely hide.

Textual's Footer recomposes on every focus change: it builds a widget per key and restyles them
all, which was a large part of the ~0.5 s an Escape took at 100k rows. Focusing the filter box
hides every single-letter key (the box takes the letters), and Escape or Enter brings them back:
two full rebuilds per filter edit. This footer keeps showing the table's keys while the filter box
has focus (they apply again the moment it hands focus back) and rebuilds only when the keys it
would show are not all on display already, or a shown key changed.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """A Footer that recomposes only when a key to show is not on display already."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[Any, ...] | None = None

    def shown_keys(self, screen: Screen) -> tuple[Any, ...]:
        """What compose() would draw: each shown binding's key, action, text and state."""
        return tuple((b.key, b.action, b.description, b.group, enabled, tooltip)
                     for _, b, enabled, tooltip in screen.active_bindings.values() if b.show)

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = self.shown_keys(screen)
            if self._bindings_ready and self._shown is not None and set(shown) <= set(self._shown):
                return      # the same keys, or some of them hidden by a focused input: keep them
            self._shown = shown
        super().bindings_changed(screen)
