"""The key footer: one line of text, redrawn only when the keys to show change.

Why not Textual's Footer: it mounts and styles a widget per key (about 0.2 s of a launch's first
frame with our ~20 keys, measured: 0.42-0.66 s to the first frame with it, 0.26-0.35 s without),
and recomposes them all on every focus change, which was a large part of an Escape at 100k rows.
This footer draws the same keys as one line of text and finds the key under a click by its span.
Focusing the filter box hides every single-letter key (the box takes the letters) and Escape or
Enter brings them back; the footer keeps showing the table's keys meanwhile (they apply again the
moment the box hands focus back) and redraws only when a key it would show is not on display or a
shown key changed.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget

SEPARATOR = "  "
KEY_STYLE, TEXT_STYLE = "bold $footer-key-foreground", "$footer-description-foreground"


class KeyFooter(Widget):
    """The active screen's shown bindings, as `key description` pairs, and the palette key."""

    ALLOW_SELECT = False
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        text-wrap: nowrap;
        text-overflow: clip;
        background: $footer-background;
        color: $footer-description-foreground;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[Any, ...] | None = None
        self._spans: list[tuple[int, int, str, bool]] = []     # (start, end, key, enabled) of each key

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def shown_keys(self, screen: Screen) -> tuple[Any, ...]:
        """What is drawn: each shown binding's key, action, text and state (one per action)."""
        seen: set[str] = set()
        keys = []
        for _, binding, enabled, tooltip in screen.active_bindings.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                keys.append((binding.key, binding.action, binding.description, self.app.get_key_display(binding),
                             enabled, tooltip))
        return tuple(keys)

    def bindings_changed(self, screen: Screen) -> None:
        if not (self.is_attached and screen is self.screen and screen.app.app_focus):
            return
        shown = self.shown_keys(screen)
        if self._shown is not None and set(shown) <= set(self._shown):
            return      # the same keys, or some of them hidden by a focused input: keep them
        self._shown = shown
        self.refresh()

    def _palette(self) -> tuple[str, str, str, bool] | None:
        """The command palette's key, drawn on the right as Textual's Footer does."""
        if not self.app.ENABLE_COMMAND_PALETTE:
            return None
        found = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if found is None:
            return None
        _, binding, enabled, _ = found
        return binding.key, self.app.get_key_display(binding), binding.description, enabled

    def render(self) -> Content:
        if self._shown is None and self.is_attached:
            self._shown = self.shown_keys(self.screen)
        key_style, text_style = KEY_STYLE, TEXT_STYLE
        palette = self._palette()
        label = f"\u258f{palette[1]} {palette[2]}" if palette is not None else ""
        room = self.size.width - len(label) - 1       # the palette key always shows, on the right
        parts: list[tuple[str, str] | str] = [" "]
        spans: list[tuple[int, int, str, bool]] = []
        x = 1
        for key, _action, description, display, enabled, _tip in self._shown or ():
            gap = SEPARATOR if len(parts) > 1 else ""
            width = len(gap) + len(display) + 1 + len(description)
            if x + width > room:
                break                                  # keys that do not fit are left out whole
            start = x + len(gap)
            parts += [gap, (display, key_style if enabled else f"{key_style} dim"),
                      (f" {description}", text_style if enabled else f"{text_style} dim")]
            x += width
            spans.append((start, x, key, enabled))
        if palette is not None:
            pad = max(1, self.size.width - x - len(label))
            parts.append(" " * pad)
            spans.append((x + pad, x + pad + len(label), palette[0], palette[3]))
            parts.append((label, key_style))
        self._spans = spans
        return Content.assemble(*parts)

    def key_at(self, x: int) -> tuple[str, bool] | None:
        """The key drawn at column `x` (and whether it is enabled), or None."""
        for start, end, key, enabled in self._spans:
            if start <= x < end:
                return key, enabled
        return None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        hit = self.key_at(event.x)
        if hit is None:
            return
        key, enabled = hit
        if enabled:
            self.app.simulate_key(key)
        else:
            self.app.bell()
