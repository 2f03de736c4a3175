"""An environment secret's scope is visible: target `owner/repo:environment` (issue 16).

The same secret name in `production` and `staging` must be two distinguishable rows in the table,
the CSV, the JSON and the filters; the uid keeps its old form (history keys), and the secret stays
attached to its repository for the delivery-chain graph (`reaches:owner/repo`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest

from connectors.github import GitHubConnector
from nhitui.export import render
from nhitui.model import Identity, make_uid
from nhitui.policy import Graph
from nhitui.query import Context, parse
from nhitui.sandbox.github import GitHubFake
from nhitui.sandbox.world import World


@pytest.fixture(scope="module")
def scanned() -> tuple[World, list[Identity]]:
    world = World(repos=12)
    with GitHubFake(world) as fake:
        connector = GitHubConnector(fake.source("gh"), lambda ref: fake.env[ref.split(":", 1)[1]])

        async def scan() -> list[Identity]:
            return [i async for batch in connector.collect() for i in batch]
        rows = asyncio.run(scan())
    return world, rows


def env_secrets(rows: list[Identity]) -> list[Identity]:
    return [r for r in rows if r.details.get("scope") == "environment"]


def test_the_target_names_repository_and_environment_and_the_uid_is_unchanged(scanned):
    world, rows = scanned
    envs = env_secrets(rows)
    assert {r.details["environment"] for r in envs} == {"production", "staging"}
    for r in envs:
        repo, env = r.details["repo"], r.details["environment"]
        assert r.target == f"{repo}:{env}" and "/" in repo and ":" not in repo
        assert r.uid == make_uid("gh", "actions_secret", f"env:{repo}:{env}:{r.name}")
    # two environments of one repository are two different targets
    repo = envs[0].details["repo"]
    assert {r.target for r in envs if r.details["repo"] == repo} == {f"{repo}:production", f"{repo}:staging"}
    # repository and organisation secrets keep their plain targets
    assert all(":" not in r.target for r in rows if r.kind == "actions_secret" and r not in envs)


def test_filters_match_the_environment_and_the_repository(scanned):
    _, rows = scanned
    envs = env_secrets(rows)
    production = parse("target:production")
    got = {r.uid for r in rows if production(r, "")}
    assert got == {r.uid for r in envs if r.details["environment"] == "production"} and got
    repo = envs[0].details["repo"]
    exact = parse(f"target:{repo}:staging")
    assert {r.uid for r in rows if exact(r, "")} == {r.uid for r in envs if r.target == f"{repo}:staging"}
    by_repo = parse(f"target:{repo}")
    matched = {r.uid for r in rows if by_repo(r, "")}
    assert {r.uid for r in envs if r.details["repo"] == repo} <= matched
    assert all(r.target in (repo, f"{repo}:production", f"{repo}:staging") for r in rows if r.uid in matched)


def test_an_environment_secret_still_reaches_its_repository(scanned):
    _, rows = scanned
    envs = env_secrets(rows)
    repo = envs[0].details["repo"]
    graph = Graph(rows)
    reached = graph.reaches(repo)
    assert {r.uid for r in envs if r.details["repo"] == repo} <= reached
    query = parse(f"reaches:{repo}", context=Context(reaches=graph.reaches))
    assert {r.uid for r in envs if r.details["repo"] == repo} <= {r.uid for r in rows if query(r, "")}


def test_csv_and_json_carry_the_environment(scanned):
    _, rows = scanned
    envs = env_secrets(rows)
    table = list(csv.DictReader(io.StringIO(render(envs, {}, "csv"))))
    assert sorted(row["target"] for row in table) == sorted(r.target for r in envs)
    document = json.loads(render(envs, {}, "json"))
    assert sorted(i["target"] for i in document["identities"]) == sorted(r.target for r in envs)
    assert any(t.endswith(":production") for t in (row["target"] for row in table))
