"""Export the visible rows: a path prompt with a dated default, CSV or JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from nhitui.model import sanitize

FORMATS = ("csv", "json")


def default_path(fmt: str = "csv", now: datetime | None = None) -> str:
    return f"./nhitui-{(now or datetime.now()):%Y%m%d-%H%M}.{fmt}"


class ExportScreen(ModalScreen[tuple[Path, str, int] | None]):
    """Ask where and how; `save(path, fmt) -> rows written` does the writing (in a thread)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > #dialog { width: 80; max-width: 95%; height: auto; border: thick $accent 70%;
                             background: $surface; padding: 0 1; }
    ExportScreen #title { text-style: bold; margin-bottom: 1; }
    ExportScreen RadioSet { layout: horizontal; border: none; width: auto; height: auto; }
    ExportScreen #error { color: $text-error; height: auto; }
    ExportScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ExportScreen Button { margin-left: 2; }
    """

    def __init__(self, rows: int, save: Callable[[Path, str], int], path: str | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.save = save
        self.initial = path or default_path()
        self.fmt = "json" if self.initial.endswith(".json") else "csv"
        self._confirm_overwrite: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Content.assemble(("Export ", "bold"), (f"{self.rows:,}", "bold $text-accent"),
                                          (" visible rows (the current filter and sort)", "bold")), id="title")
            yield Input(self.initial, id="path", placeholder="file path")
            with RadioSet(id="format"):
                yield RadioButton("CSV", value=self.fmt == "csv", id="fmt-csv")
                yield RadioButton("JSON", value=self.fmt == "json", id="fmt-json")
            yield Static(id="error")
            with Horizontal(id="buttons"):
                yield Button("Export", id="export", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    @on(RadioSet.Changed, "#format")
    def _format(self, event: RadioSet.Changed) -> None:
        self.fmt = "json" if event.pressed.id == "fmt-json" else "csv"
        box = self.query_one("#path", Input)
        for ext in FORMATS:
            if box.value.endswith("." + ext) and ext != self.fmt:
                box.value = box.value[: -len(ext)] + self.fmt

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#export")
    def _submit(self) -> None:
        self.export()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def _error(self, text: str) -> None:
        self.query_one("#error", Static).update(Content(sanitize(text)))

    def export(self) -> None:
        raw = self.query_one("#path", Input).value.strip()
        if not raw:
            self._error("Enter a file path.")
            return
        path = Path(raw).expanduser()
        if path.is_dir():
            self._error(f"{path} is a directory: add a file name.")
            return
        if not path.parent.exists():
            self._error(f"The folder {path.parent} does not exist.")
            return
        if path.exists() and self._confirm_overwrite != path:
            self._confirm_overwrite = path
            self._error(f"{path} exists: press Enter again to overwrite it.")
            return
        self.run_worker(lambda: self._write(path), thread=True, group="export", description="export",
                        exit_on_error=False)

    def _write(self, path: Path) -> None:
        try:
            written = self.save(path, self.fmt)
        except OSError as exc:
            self.app.call_from_thread(self._error, f"Cannot write {path}: {exc.strerror or exc}")
            return
        self.app.call_from_thread(self.dismiss, (path, self.fmt, written))
