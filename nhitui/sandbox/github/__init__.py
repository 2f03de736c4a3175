"""A fake GitHub REST API (the api.github.com flavour, or GHES under /api/v3) seeded from the World.

It serves the endpoints the GitHub connector reads and writes, shaped like GitHub's published
OpenAPI description (tests/openapi/ checks every response against it). State is kept: a deleted key
or runner disappears from the next list, a deactivated webhook shows `active: false`. Secret values
(Actions secrets, webhook secrets) are planted as canaries and are never served.

The package mirrors connectors/github/:
- `fake.py`      `GitHubFake`: knobs, lifecycle, `source()`/`env`, the seeding plan;
- `serving.py`   what every endpoint shares: tokens, rate limits, errors, pages, ETag/304, the App's
                 installation tokens;
- `state.py`     stored organisations and repositories, and their JSON views;
- one module per family, seeding its kinds (with their ground truth) next to its routes:
  `org.py` (repositories, members, OIDC templates), `keys.py`, `secrets.py`, `runners.py`,
  `apps.py`, `pats.py`, `credentials.py`, `hooks.py`.
"""

from nhitui.sandbox.github.fake import GitHubFake

__all__ = ["GitHubFake"]
