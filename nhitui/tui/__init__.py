"""The nhitui dashboard (Textual). Entry point: `nhitui.tui.app.run(config, ...)`."""
