"""Keep-alive for the sandbox's fakes: now built into `nhitui.sandbox.server.KeepAliveHandler`.

The werkzeug patch (no `Connection: close`, no post-response drain on bodiless requests,
TCP_NODELAY) lives in the sandbox server, so the demo and the tests get it too. `install()` stays
for the benchmarks that still call it; it has nothing left to do.
"""

from __future__ import annotations

from nhitui.sandbox.server import KeepAliveHandler

__all__ = ["KeepAliveHandler", "install"]


def install() -> None:
    """Nothing to install: every FakeServer keeps connections alive."""
