"""CI subject formats, as the providers document them, and the glob matching trusts use.

Pure and total: any string in, a reading out (never an exception); fuzzed in tests/test_trust.py.
- GitHub: `repo:ORG/REPO:ref:refs/heads/BRANCH`, `...:ref:refs/tags/TAG`, `...:environment:NAME`,
  `...:pull_request`; customised subjects (`include_claim_keys`) are `key:value` pairs in the
  template's order, `context` standing for the default ref/environment/pull_request part.
- GitLab (gitlab.com and self-managed): `project_path:GROUP/PROJECT:ref_type:branch|tag:ref:NAME`.
- Kubernetes: `system:serviceaccount:NAMESPACE:NAME`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Claim names that may appear as `key:value` pairs in a (customised) GitHub subject; `pull_request`
# stands alone.
GITHUB_KEYS = frozenset({
    "repo", "repository", "environment", "ref", "ref_type", "job_workflow_ref", "job_workflow_sha",
    "repository_owner", "repository_owner_id", "repository_id", "repository_visibility", "workflow",
    "workflow_ref", "workflow_sha", "context", "actor", "actor_id", "event_name", "head_ref", "base_ref",
    "enterprise", "enterprise_id", "runner_environment", "check_run_id", "pull_request",
})
GITLAB_KEYS = frozenset({"project_path", "ref_type", "ref", "namespace_path", "environment", "ref_protected",
                         "pipeline_source", "user_login", "deployment_tier"})
MAX_MATCH = 4096


def is_pattern(text: str) -> bool:
    return "*" in text or "?" in text


def glob_match(value: str, pattern: str, crosses_slash: bool = True) -> bool:
    """`*` any run (not across `/` unless `crosses_slash`), `?` one character; never exponential."""
    value, pattern = value[:MAX_MATCH], pattern[:MAX_MATCH]
    if crosses_slash and pattern.endswith("*") and not is_pattern(pattern[:-1]):
        return value.startswith(pattern[:-1])   # `org/*`, the commonest trust pattern: a prefix
    if crosses_slash:
        v = p = 0
        star, mark = -1, 0
        while v < len(value):
            if p < len(pattern) and (pattern[p] == "?" or pattern[p] == value[v]):
                v, p = v + 1, p + 1
            elif p < len(pattern) and pattern[p] == "*":
                star, mark, p = p, v, p + 1
            elif star >= 0:
                p, mark = star + 1, mark + 1
                v = mark
            else:
                return False
        return pattern[p:].strip("*") == ""
    # Segment-bounded stars: dynamic programming over (pattern, value) positions.
    row = [True] + [False] * len(value)
    for ch in pattern:
        nxt = [False] * (len(value) + 1)
        if ch == "*":
            nxt[0] = row[0]
            for j in range(1, len(value) + 1):
                nxt[j] = row[j] or (nxt[j - 1] and value[j - 1] != "/")
        else:
            for j in range(1, len(value) + 1):
                nxt[j] = row[j - 1] and (ch == value[j - 1] or (ch == "?" and value[j - 1] != "/"))
        row = nxt
        if not any(row):
            return False
    return row[len(value)]


def subject_fields(subject: str, keys: frozenset[str]) -> tuple[dict[str, str], bool]:
    """`k1:v1:k2:v2...` -> ({k: v}, tail wildcard).

    A value runs until the next known key, so a value holding `:` stays whole; `pull_request` takes
    no value; a segment of only `*`/`?` (or a pattern ending the subject where a key is due) admits
    anything after it. The first unknown leading segment is kept as `_rest`."""
    parts = subject.split(":")
    fields: dict[str, str] = {}
    tail = False
    i = 0
    while i < len(parts):
        k = parts[i]
        if k == "pull_request" and k in keys:
            fields[k] = ""
            i += 1
        elif k in keys and i + 1 < len(parts):
            j = i + 2
            while j < len(parts) and parts[j] not in keys and parts[j].strip("*?") != "":
                j += 1
            fields[k] = ":".join(parts[i + 1:j])
            i = j
        else:
            if is_pattern(k) and (k.strip("*?") == "" or i == len(parts) - 1):
                tail = True
            else:
                fields.setdefault("_rest", k)
            i += 1
    return fields, tail


def github_subject(subject: str) -> tuple[str | None, str | None, str | None, bool]:
    """(repo or pattern, ref/context, repository id, pinned) a GitHub subject admits.

    ref is `refs/...`, `environment:NAME`, `pull_request` or `*`; None when the subject says nothing
    of the repository or the ref."""
    if subject.strip("*?") == "":
        return "*", "*", None, False
    fields, tail = subject_fields(subject, GITHUB_KEYS)
    repo = fields.get("repo") or fields.get("repository")
    if repo is None and "repository_owner" in fields:
        repo = f"{fields['repository_owner']}/*"
    if repo is None and is_pattern(fields.get("_rest", "")):
        repo = "*"
    if "environment" in fields:
        ref: str | None = f"environment:{fields['environment']}"
    elif "ref" in fields:
        ref = fields["ref"]
    elif "pull_request" in fields:
        ref = "pull_request"
    else:
        ref = "*" if tail or repo is not None or "repository_id" in fields else None
    if repo is None and "repository_owner_id" in fields and "repository_id" not in fields:
        repo = f"owner#{fields['repository_owner_id']}/*"     # an org by id: no known repo is named so
        ref = ref or "*"
    return repo, ref, fields.get("repository_id"), repo is not None or "repository_id" in fields


def gitlab_subject(subject: str) -> tuple[str | None, str | None]:
    """(project path or pattern, ref) a GitLab subject admits (`refs/heads/X`, `refs/tags/X`, `*`)."""
    if subject.strip("*?") == "":
        return "*", "*"
    fields, tail = subject_fields(subject, GITLAB_KEYS)
    project = fields.get("project_path")
    if project is None and "namespace_path" in fields:
        project = f"{fields['namespace_path']}/*"
    if project is None and is_pattern(fields.get("_rest", "")):
        project = "*"
    if "ref" not in fields:
        return project, "*"
    return project, gitlab_ref(fields.get("ref_type"), fields["ref"])


def gitlab_ref(ref_type: str | None, ref: str) -> str:
    if ref_type == "branch":
        return f"refs/heads/{ref}"
    if ref_type == "tag":
        return f"refs/tags/{ref}"
    return ref


def kubernetes_subject(subject: str) -> str | None:
    """`system:serviceaccount:NS:NAME` -> `NS/NAME` (patterns kept); None for another form."""
    if subject.strip("*?") == "":
        return "*"
    parts = subject.split(":")
    if len(parts) >= 4 and parts[0] == "system" and parts[1] == "serviceaccount":
        return f"{parts[2]}/{':'.join(parts[3:])}"
    if len(parts) == 3 and parts[:2] == ["system", "serviceaccount"] and is_pattern(parts[2]):
        return "*"
    return None


def github_template_subject(claims: Mapping[str, str], template: Mapping[str, Any] | None) -> str:
    """The subject GitHub puts in a token with these claims, under an org/repo customisation.

    `claims` has `repository`, and one of `ref` / `environment` / `event_name=pull_request`, plus
    any other claim the template names. The default template is `repo` + `context`."""
    keys = ["repo", "context"]
    if template and template.get("use_default") is not True and template.get("include_claim_keys"):
        keys = [str(k) for k in template["include_claim_keys"]]
    parts: list[str] = []
    for key in keys:
        if key == "repo":
            parts.append(f"repo:{claims.get('repository', '')}")
        elif key == "context":
            if claims.get("environment"):
                parts.append(f"environment:{claims['environment']}")
            elif claims.get("event_name") == "pull_request":
                parts.append("pull_request")
            else:
                parts.append(f"ref:{claims.get('ref', '')}")
        else:
            parts.append(f"{key}:{claims.get(key, '?')}")
    return ":".join(parts)
