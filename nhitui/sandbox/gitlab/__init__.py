"""A fake GitLab REST v4 API, seeded from the `World`, for the demo, the tests and the benchmarks.

It follows GitLab's documented behaviour (doc/api in gitlabhq, see reference/apis.md section 2).
One module per family of kinds holds that family's seeding next to its routes:

| module | what |
|---|---|
| `fake.py` | `GitLabFake`: state, seeding order, tokens of the scanner (admin, read-only, non-admin user), look-ups |
| `http.py` | router, auth and scope errors, rate limit headers and 429s, offset and keyset pagination |
| `truth.py` | ground truth (`world.expect`) and the planted findings; `CANARY` |
| `orgs.py` | users, groups, projects, members |
| `tokens.py` | personal, project and group access tokens (revoke, rotate) |
| `keys.py` | deploy keys (unlink) |
| `deploy_tokens.py` | deploy tokens (revoke) |
| `runners.py` | runners (pause / unpause, delete) |
| `variables.py` | CI/CD variables (delete per environment scope) |
| `triggers.py` | pipeline trigger tokens (delete) |
| `service_accounts.py` | group and instance service accounts and their tokens (Premium+) |
| `credentials.py` | the group credentials inventory: enterprise users' tokens and SSH keys (Ultimate, Owner) |
| `agents.py` | cluster agents and their tokens (revoke) |
"""

from nhitui.sandbox.gitlab.fake import ENV_TOKEN, GitLabFake
from nhitui.sandbox.gitlab.truth import CANARY

__all__ = ["CANARY", "ENV_TOKEN", "GitLabFake"]
