"""Checkpoint and resume of a scan stopped by a spent primary budget, and the last scan's size.

When the primary budget (`x-ratelimit-remaining`) runs out until a reset further away than the
source's `budget_wait`, the scan stops (`BudgetStop`, the source is `partial`) and every GET answered
so far is kept in a checkpoint file: cache key -> (Link header, body). `nhitui scan --resume` runs
the same scan again; a GET whose answer is in the checkpoint is served from it without a request,
so the identities already collected are rebuilt exactly (nothing lost, nothing twice) and only the
rest is asked. Bodies are GitHub's own answers, which never carry secret values; the file is 0600.

Beside it, a small state file keeps the number of GETs the last complete scan needed: the forecast
"this budget cannot cover the scan" is made from it before the first request.

The directory comes from the source's `checkpoint_dir` (the CLI sets it under the XDG state dir).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

VERSION = 1
MAX_AGE = 24 * 3600.0       # an older checkpoint describes an organisation that has moved on: start over


def _stem(name: str, api_url: str, orgs: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([name, api_url, sorted(orgs)]).encode()).hexdigest()[:16]
    return f"github-{digest}"


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class Checkpoints:
    """The checkpoint and size files of one source."""

    def __init__(self, directory: str | os.PathLike[str], name: str, api_url: str, orgs: list[str]) -> None:
        stem = _stem(name, api_url, orgs)
        self.dir = Path(directory).expanduser()
        self.path = self.dir / f"{stem}.checkpoint.json"
        self.size_path = self.dir / f"{stem}.last.json"
        self.api_url = api_url
        self.orgs = sorted(orgs)

    def load(self) -> dict[str, tuple[str, str]]:
        """The answers of the stopped scan (empty when none, another source's, damaged or stale)."""
        data = _read(self.path)
        if not isinstance(data, dict) or data.get("version") != VERSION or data.get("api_url") != self.api_url \
                or data.get("orgs") != self.orgs:
            return {}
        saved = data.get("saved")
        if not isinstance(saved, (int, float)) or time.time() - saved > MAX_AGE:
            return {}
        responses = data.get("responses")
        if not isinstance(responses, dict):
            return {}
        return {str(k): (str(v[0]), str(v[1])) for k, v in responses.items()
                if isinstance(v, list) and len(v) == 2 and isinstance(v[1], str)}

    def save(self, responses: dict[str, tuple[str, str]], reset: float) -> None:
        _write(self.path, {"version": VERSION, "api_url": self.api_url, "orgs": self.orgs, "saved": time.time(),
                           "reset": reset, "responses": {k: list(v) for k, v in responses.items()}})

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()

    def last_size(self) -> int | None:
        """GETs the last complete scan needed (None: never completed here)."""
        data = _read(self.size_path)
        n = data.get("requests") if isinstance(data, dict) else None
        return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None

    def save_size(self, requests: int) -> None:
        with contextlib.suppress(OSError):
            _write(self.size_path, {"requests": int(requests), "saved": time.time()})
