"""Collection at organisation scale against the sandbox with per-request latency.

The sandbox's fakes serve from child processes (GitHub, GitLab and AWS one each, the rest together),
as real providers serve from other machines: in this process they shared one interpreter lock, and
the harness measured itself (stop 17: 76 s of the fakes' CPU, 1.29x the bound by itself). The scan
runs as another child (`benchmarks.scan_child`, the `Collector` that `nhitui scan` runs) so its
wall time, CPU and peak RSS are the program's own. Each fake process records the pages it served
(`benchmarks.economy`) and knows its ground truth; both come back through a pipe.

Per source: requests, wall, the lower bound (requests x latency / the source's concurrency: the
sources run side by side, each with its own pool), their ratio, and the request economy (requests
made / the fewest the inventory needs, counted from the pages the fakes served, see
`benchmarks.economy`). In total: the collection wall against the largest per-source bound.

A re-scan of the unchanged sandbox then shows the conditional requests: GitHub's primary
rate-limit units spent by the first scan and by the re-scan (the cache is in the history database).

The naive baseline is a sequential loop over the same endpoints with the same SDKs: our connectors
with `concurrency = 1`, one source after another. At full scale it would take half an hour, so it
runs on a smaller world and is compared per request (a sequential loop's cost is linear in requests).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import economy
from nhitui.model import make_uid
from nhitui.sandbox.chain import ALL, SOURCE_NAMES, Sandbox, _toml
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World

FULL = dict(repos=2000, projects=1000, iam_users=500, access_keys=1000, roles=200, registry_tokens=300)
QUICK = dict(repos=100, projects=50, iam_users=30, access_keys=60, roles=15, registry_tokens=30)
CONCURRENCY = 16
SEQUENTIAL = {"npm", "jfrog"}       # connectors that page one request at a time (a handful of pages)
# The fakes' processes: the three busiest providers alone, the rest (a few hundred requests) together.
GROUPS = (("github",), ("gitlab",), ("aws",), tuple(p for p in ALL if p not in ("github", "gitlab", "aws")))


PROCESSES = "--processes" in sys.argv     # each source in its own process, as `nhitui scan --processes`


def child(config: Path, out: Path, *extra: str) -> dict[str, Any]:
    """Run one scan in a child; its JSON plus the wall seen from here (interpreter start included)."""
    if PROCESSES and "--sequential" not in extra:
        extra = (*extra, "--processes")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scan_child", str(config), str(out), *extra],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=7200)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"scan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    doc = json.loads(out.read_text())
    doc["wall"] = wall
    doc["rss_mb"] = doc["rss_kb"] / 1024      # the child's own peak
    return doc


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by process `pid` and its descendants (a fake's process and, for Vault,
    its OpenBao server), from /proc."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = sum(int(f) for f in fields[11:15]) / tick     # its own and its reaped children's
    total = 0.0
    for p in used:
        q = p
        while q > 1 and q != pid:
            q = parents.get(q, 0)
        if q == pid:
            total += used[p]
    return total


def with_concurrency(text: str, n: int) -> str:
    text = re.sub(r"^concurrency = .*$", "", text, flags=re.M)
    return text.replace('[[source]]\n', f'[[source]]\nconcurrency = {n}\n')


def write_config(sources: list[dict[str, Any]], directory: Path, concurrency: int) -> Path:
    """The sandbox's config for `sources`, with its history and journal in `directory`."""
    lines = ["[journal]", f"path = {_toml(str(directory / 'journal.jsonl'))}", "",
             "[history]", f"path = {_toml(str(directory / 'history.sqlite'))}", ""]
    for source in sources:
        lines.append("[[source]]")
        lines += [f"{key} = {_toml(value)}" for key, value in source.items()]
        lines.append("")
    cfg = directory / "config.toml"
    cfg.write_text(with_concurrency("\n".join(lines), concurrency))
    os.chmod(cfg, 0o600)
    return cfg


def serve(providers: tuple[str, ...], scale: dict[str, int], latency: float, conn: Any) -> None:
    """A fake process: seed the world, serve `providers`' fakes, answer the parent's questions."""
    world = World(seed=11, **scale)
    with Sandbox(world, Knobs(latency=latency), providers=providers) as sandbox:
        recorders = economy.install(sandbox.fakes)
        gh = sandbox.fakes.get("github")
        if gh is not None:
            # A 2,000-repository scan needs ~15,000 units: three hours of a PAT's 5,000/hour, one of a
            # GitHub Enterprise Cloud App's 15,000. The benchmark measures time, so the limit is lifted.
            gh.rate_limit = 1_000_000
        env = {k: v for fake in sandbox.fakes.values() for k, v in fake.env.items()}
        truth = {p: sorted(make_uid(SOURCE_NAMES[p], e.kind, e.native_id) for e in world.expected_for(p))
                 for p in sandbox.providers}
        conn.send({"sources": dict(zip(sandbox.providers, sandbox.sources())), "env": env, "truth": truth})
        while (command := conn.recv()) != "stop":
            if command == "figures":
                minimum = {p: r.minimum() for p, r in recorders.items()}
                aws = sandbox.fakes.get("aws")
                if aws is not None:
                    minimum["aws"] = aws_minimum(world, tuple(aws.regions))
                conn.send({"made": {p: r.made() for p, r in recorders.items()}, "minimum": minimum,
                           "excess": {p: r.excess(3) for p, r in recorders.items()},
                           "rate_used": gh.rate_used if gh is not None else None})
            elif command == "reset":
                for r in recorders.values():
                    r.reset()
                conn.send(None)


class Fakes:
    """The fakes' processes; `sources` (in the sandbox's order), `truth`, `figures()`, `cpu()`."""

    def __init__(self, procs: list[tuple[Any, Any]], hello: list[dict[str, Any]]) -> None:
        self._procs = procs
        merged = {p: src for h in hello for p, src in h["sources"].items()}
        self.sources = [merged[p] for p in ALL if p in merged]
        self.providers = [p for p in ALL if p in merged]
        self.env = {k: v for h in hello for k, v in h["env"].items()}
        self.truth = {p: set(uids) for h in hello for p, uids in h["truth"].items()}

    def ask(self, command: str) -> list[Any]:
        for conn, _ in self._procs:
            conn.send(command)
        return [conn.recv() for conn, _ in self._procs]

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {"made": {}, "minimum": {}, "excess": {}, "rate_used": 0}
        for part in self.ask("figures"):
            for key in ("made", "minimum", "excess"):
                out[key].update(part[key])
            if part["rate_used"] is not None:
                out["rate_used"] = part["rate_used"]
        return out

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each fake process (named by its providers)."""
        return {proc.name.removeprefix("fakes-"): tree_cpu(proc.pid) for _, proc in self._procs}


@contextmanager
def fakes_apart(scale: dict[str, int], latency: float) -> Iterator[Fakes]:
    """Start the fakes in child processes (spawned, one per group of `GROUPS`), stop them after."""
    ctx = multiprocessing.get_context("spawn")
    procs = []
    try:
        for group in GROUPS:
            if not group:
                continue
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=serve, args=(group, scale, latency, theirs), daemon=True,
                               name=f"fakes-{'-'.join(group)}")
            proc.start()
            theirs.close()
            procs.append((mine, proc))
        fakes = Fakes(procs, [conn.recv() for conn, _ in procs])
        saved = {k: os.environ.get(k) for k in fakes.env}
        os.environ.update(fakes.env)          # the scan's child resolves its `env:` references here
        try:
            yield fakes
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        for conn, _ in procs:
            try:
                conn.send("stop")
            except OSError:
                pass
        for _, proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


def aws_minimum(world: World, regions: tuple[str, ...]) -> int:
    from benchmarks.bench_aws import lower_bound
    from nhitui.sandbox.aws import plan_secrets

    kinds = Counter(e.kind for e in world.expected_for("aws"))
    secrets = Counter(s.region for s in plan_secrets(world) if s.region in regions)
    return lower_bound(kinds["iam_user"], kinds["access_key"], kinds["iam_role"], 1, 0, kinds["oidc_provider"],
                       dict(secrets), fresh_report=False)


def baseline(scale: dict[str, int], latency: float) -> tuple[float, int, dict[str, Any]]:
    """The naive sequential loop on `scale`: (collection seconds, requests, document)."""
    with fakes_apart(scale, latency) as fakes, tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(fakes.sources, Path(tmp), 1)
        doc = child(cfg, Path(tmp) / "base.json", "--sequential")
    return doc["collect"], sum(s["requests"] or 0 for s in doc["sources"].values()), doc


def _seconds(value: float | None) -> str:
    """A source process's CPU (shown under --processes only)."""
    return "-" if value is None else f"{value:.1f}s"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run(quick: bool = False, latency: float = 0.05) -> list[tuple[str, float, float, str]]:
    scale = QUICK if quick else FULL
    rows: list[tuple[str, float, float, str]] = []
    t = time.perf_counter()
    with fakes_apart(scale, latency) as fakes, tempfile.TemporaryDirectory() as tmp:
        print(f"\nsandbox seeded and serving in {time.perf_counter() - t:.1f} s "
              f"({len(GROUPS)} processes); load average {load()}")
        cfg = write_config(fakes.sources, Path(tmp), CONCURRENCY)
        used0 = fakes.figures()["rate_used"]
        cpu0, fakes0, scan0 = _cpu(), fakes.cpu(), _cpu(resource.RUSAGE_CHILDREN)
        first = child(cfg, Path(tmp) / "first.json", "--cache")
        fakes1 = fakes.cpu()
        first["server_cpu"] = sum(fakes1.values()) - sum(fakes0.values())
        first["server_cpu_by"] = {k: fakes1[k] - fakes0[k] for k in fakes1}
        first["harness_cpu"] = _cpu() - cpu0
        first["tree_cpu"] = _cpu(resource.RUSAGE_CHILDREN) - scan0    # the scan and its processes
        first["load"] = load()
        seen = fakes.figures()
        used1 = seen["rate_used"]
        db = Path(tmp) / "history.sqlite"
        cache_mb = sum(f.stat().st_size for f in db.parent.glob(db.name + "*")) / 2**20
        made, minimum, excess = seen["made"], seen["minimum"], seen["excess"]
        fakes.ask("reset")
        second = child(cfg, Path(tmp) / "second.json", "--cache")
        used2 = fakes.figures()["rate_used"]
        truth = fakes.truth

    print(f"world: {scale}, latency {latency * 1000:.0f} ms/request, concurrency {CONCURRENCY} per source, "
          f"{first['count']} identities")
    print(f"scan: {first['wall']:.1f} s in the child ({first['startup']:.2f} s start-up and config, "
          f"{first['collect']:.1f} s collection), CPU {first['tree_cpu']:.1f} s (its parent "
          f"{first['cpu']:.1f} s, the sources' processes {first['cpu_children']:.1f} s), peak RSS of its parent "
          f"{first['rss_mb']:.0f} MB; the fakes' processes used {first['server_cpu']:.1f} s CPU meanwhile, this "
          f"harness {first['harness_cpu']:.1f} s; load average after {first['load']}, {os.cpu_count()} cores")
    print("the fakes' CPU by process: " + ", ".join(f"{k.split('-')[0] if k.count('-') < 2 else 'the rest'} "
                                                    f"{v:.1f} s" for k, v in first["server_cpu_by"].items()))
    print(f"{'source':<15} {'state':<7} {'count':>6} {'truth':>6} {'requests':>8} {'wall':>7} {'bound':>7} "
          f"{'ratio':>6} {'minimum':>8} {'economy':>7} {'CPU':>6}")
    bounds = {}
    total_made = total_min = 0
    wrong = 0
    for name, s in first["sources"].items():
        provider = s["provider"]
        requests = s["requests"] or 0
        conc = 1 if provider in SEQUENTIAL else CONCURRENCY
        bound = requests * latency / conc
        bounds[name] = bound
        need = minimum.get(provider)
        got = made.get(provider, requests)
        total_made += got
        total_min += need or got
        econ = f"{got / need:.2f}x" if need else "-"
        took = s["seconds"] or 0.0
        expected = truth.get(provider, set())
        got_uids = set(s["uids"])
        wrong += len(expected ^ got_uids)
        mark = "" if got_uids == expected else f"  missing {len(expected - got_uids)}, extra {len(got_uids - expected)}"
        print(f"{name:<15} {s['state']:<7} {s['count']:>6} {len(expected):>6} {requests:>8} {took:>6.1f}s "
              f"{bound:>6.1f}s {took / max(bound, 1e-9):>5.2f}x {need if need else '-':>8} {econ:>7} "
              f"{_seconds(s.get('process_cpu')):>6}{mark}")
        rows.append((f"{provider}: requests / minimum (pages)", got / need if need else 1.0, 1.05, "x"))
    for provider, top in excess.items():
        for resource_, got, need in top:
            print(f"  {provider} excess: {resource_[:90]} made {got}, needs {need}")
    worst = max(bounds, key=lambda n: bounds[n])
    lower = bounds[worst]
    print(f"lower bound of the whole collection: {lower:.1f} s ({worst}, the largest per-source bound); "
          f"collection took {first['collect']:.1f} s")
    rows.insert(0, ("collection wall / lower bound (largest source)", first["collect"] / max(lower, 1e-9), 1.3, "x"))
    rows.insert(1, ("scan wall incl. start-up / lower bound", first["wall"] / max(lower, 1e-9), 1.3, "x"))
    for name, s in first["sources"].items():
        if s["provider"] in ("github", "gitlab", "aws"):
            rows.append((f"{s['provider']}: source wall / its lower bound", (s["seconds"] or 0) / max(bounds[name], 1e-9),
                         1.3, "x"))
    rows.append(("all sources: requests / minimum", total_made / max(total_min, 1), 1.05, "x"))
    total_truth = sum(len(v) for v in truth.values())
    rows.append(("(ground truth + identities missing or extra) / ground truth", 1 + wrong / max(total_truth, 1),
                 1.0, "x"))
    budget = os.cpu_count() or 1
    cpu_all = first["tree_cpu"] + first["server_cpu"]
    print(f"CPU of the scan and the fakes together: {cpu_all:.1f} s, {cpu_all / max(first['collect'], 1e-9):.2f} "
          f"cores busy on average over the collection; at 1.3x the bound, {budget} cores offer "
          f"{budget * 1.3 * lower:.0f} s")
    rows.append(("peak RSS of the scan", first["rss_mb"], 300, "MB"))

    gh_first = next((s for s in first["sources"].values() if s["provider"] == "github"), None)
    gh_second = next((s for s in second["sources"].values() if s["provider"] == "github"), None)
    if gh_first and gh_second:
        u1, u2 = gh_first["rate_limit_used"] or 0, gh_second["rate_limit_used"] or 0
        print(f"GitHub primary rate limit: first scan {u1} units ({used1 - used0} charged by the fake), "
              f"re-scan of the unchanged org {u2} units ({used2 - used1} charged; "
              f"{gh_second['not_modified']} of {gh_second['requests']} requests answered 304); "
              f"re-scan collection {second['collect']:.1f} s; the HTTP cache in the history database: "
              f"{cache_mb:.1f} MB")
        rows.append(("GitHub re-scan units / first scan units", u2 / max(u1, 1), 0.10, ""))

    if "--no-baseline" in sys.argv:     # iterating on the collection: the baseline adds three minutes
        return rows
    small = {k: max(2, v // (40 if quick else 10)) for k, v in scale.items()}
    base_s, base_req, base = baseline(small, latency)
    ours_req = sum(s["requests"] or 0 for s in first["sources"].values())
    per_base = base_s / max(base_req, 1)
    extrapolated = per_base * ours_req
    speedup = extrapolated / max(first["collect"], 1e-9)
    print(f"naive baseline (sequential, concurrency 1) on {small}: {base_s:.1f} s for {base_req} requests "
          f"({per_base * 1000:.1f} ms each); for our {ours_req} requests it would take {extrapolated:.0f} s "
          f"against our {first['collect']:.1f} s: {speedup:.1f}x faster")
    rows.append(("speed-up over the sequential baseline: 10 / speed-up", 10 / speedup, 1.0, "x"))
    return rows


if __name__ == "__main__":
    from benchmarks.report import print_rows

    print_rows("collection", run(quick="--quick" in sys.argv))
