"""Decisions over HTTP against Open Policy Agent, in one run, on bench/pdp.py's RBAC workload.

The workload is bench/pdp.py's RBAC policy (1,000 rules, 10,000 users, 20,000 datasets) in the
shipped RBAC+ABAC model, written twice: as this service's Casbin files and as equivalent Rego
with the same graph as OPA data (role closure by ``graph.reachable``, Casbin's ``keyMatch`` as a
prefix test, an explicit deny beating any allow). Both servers answer the same 2,000 requests
first and the run stops if one answer differs. Then wrk drives, in A/B interleaved rounds:

* this service (uvicorn, 2 workers, SQLite): every decision authenticated, decided, and committed
  to the hash-chained audit log (and, for an allow, its lineage event to the outbox) before the
  answer;
* OPA's server (GOMAXPROCS = the machine's CPUs), without and with decision logs (the console
  logger, written to a file: best effort, not durable);

single decisions (requests/s, p99), batches of 100 (decisions/s; OPA has no batch API, so its
batch is a rule over ``input.requests``), and server CPU time per decision (user + system time
of the server's process tree from /proc, over the decisions wrk counted). OPA v1.22.3 is built
once with ``go install`` into a cache outside the repository (never committed).

    python bench/peer_opa.py [--seconds 10] [--rounds 2] [--connections 32] [--server uvicorn]

Needs wrk (Debian: apt-get install wrk) and Go (only to build OPA the first time);
``--server granian`` needs granian (pip install granian), which is not a dependency: on this
machine it was within the noise of uvicorn with httptools and uvloop.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pdp import ACTIONS, PURPOSES, rbac_policy  # noqa: E402

from governance.callers import ApiKeys  # noqa: E402
from governance.db import create_database  # noqa: E402
from governance.schema import upgrade  # noqa: E402

OPA_VERSION = "v1.22.3"
OPA_CACHE = Path(os.environ.get("GOVERNANCE_BENCH_CACHE", Path.home() / ".cache/governance-bench"))
BATCH = 100
CHECKED = 2000
SEED = 20261128  # bench/pdp.py's

REGO = """\
package governance

import rego.v1

# The shipped Casbin model, for bench/pdp.py's RBAC rules (every condition is True):
#   g(r.sub, p.sub) && (g2(r.obj, p.obj) || g2(r.ns, p.obj) || keyMatch(r.obj, p.obj))
#   && (p.act == "*" || r.act == p.act) && (p.pur == "*" || r.pur == p.pur)
# with "some allow and no deny". data.g and data.g2 map a name to its direct parents,
# data.roles and data.groups are the graphs above those (roles of roles, groups of groups),
# data.rules and data.patterns (below) hold the rules by subject or role.

# (data.g and data.g2 are never passed to a builtin whole: OPA would convert them per call)
roles(sub) := graph.reachable(data.roles, {p | some p in data.g[sub]}) | {sub}

groups(obj, ns) := graph.reachable(data.groups, {p | some n in [obj, ns]; some p in data.g2[n]}) | {obj, ns}

namespace(dataset) := concat("", [split(dataset, "/")[0], "/*"])

# keyMatch(obj, pattern) for a pattern with "*": the prefix before the "*"
key_match(obj, pattern) if startswith(obj, substring(pattern, 0, indexof(pattern, "*")))

field_ok(pattern, _) if pattern == "*"

field_ok(pattern, value) if pattern == value

# data.rules[role][obj] holds the rules naming a dataset or group, data.patterns[role] those
# whose dataset is a pattern (a pattern is never a group, so no rule is missed)
matches(r) := array.concat(
	[rule |
		held := roles(r.subject.id)
		in_groups := groups(r.resource.dataset, namespace(r.resource.dataset))
		some role in held
		some obj in in_groups
		some rule in data.rules[role][obj]
		field_ok(rule.act, r.action)
		field_ok(rule.pur, r.purpose)
	],
	[rule |
		some role in roles(r.subject.id)
		some rule in data.patterns[role]
		key_match(r.resource.dataset, rule.obj)
		field_ok(rule.act, r.action)
		field_ok(rule.pur, r.purpose)
	],
)

any_effect(rules, effect) if {
	some rule in rules
	rule.eft == effect
}

decide(r) := "allow" if {
	m := matches(r)
	any_effect(m, "allow")
	not any_effect(m, "deny")
} else := "deny"

decision := decide(input)

batch := [decide(r) | some r in input.requests]
"""

PURPOSES_YAML = """\
# bench/peer_opa.py: the workload's purposes, none needing consent (the Rego has no consent)
purposes:
{entries}
"""
OBLIGATIONS_YAML = "default_action: mask\nnon_pii_action: keep\nrules: []\n"


# ---- the workload, as Casbin files and as Rego data ---------------------------------------------


def write_policy_dir(directory: Path, policy: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "policies" / "model.conf", directory / "model.conf")
    (directory / "policy.csv").write_text(policy)
    entries = "\n".join(
        f"  {p}:\n    description: {p}\n    lawful_basis: legitimate_interests\n"
        f"    retention_days: 365"
        for p in PURPOSES
    )
    (directory / "purposes.yaml").write_text(PURPOSES_YAML.format(entries=entries))
    (directory / "obligations.yaml").write_text(OBLIGATIONS_YAML)


def servable(directory: Path, policy: str) -> tuple[str, int]:
    """The policy without the rules the linter refuses as shadowed (another rule with the same
    effect covers each), so the service loads it; dropping them changes no answer."""
    from governance.pdp.bundle import analyse_policy_dir

    write_policy_dir(directory, policy)
    errors = [str(f) for f in analyse_policy_dir(directory).errors]
    shadowed = {
        int(m.group(1)) for e in errors if (m := re.match(r"policy.csv:(\d+): error: shadowed", e))
    }
    if len(shadowed) != len(errors):
        raise SystemExit(f"the generated policy does not load: {errors[:3]}")
    lines = [line for i, line in enumerate(policy.splitlines(), start=1) if i not in shadowed]
    policy = "\n".join(lines) + "\n"
    write_policy_dir(directory, policy)
    return policy, len(shadowed)


def rego_data(policy: str) -> dict[str, Any]:
    g: dict[str, list[str]] = {}
    g2: dict[str, list[str]] = {}
    rules: dict[str, dict[str, list[dict[str, str]]]] = {}
    patterns: dict[str, list[dict[str, str]]] = {}
    for line in policy.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if parts[0] == "g":
            g.setdefault(parts[1], []).append(parts[2])
        elif parts[0] == "g2":
            g2.setdefault(parts[1], []).append(parts[2])
        elif parts[0] == "p":
            sub, obj, act, pur, cond, eft = parts[1:7]
            if cond != "True":
                raise SystemExit(f"the Rego covers only conditions that are True: {line}")
            rule = {"obj": obj, "act": act, "pur": pur, "eft": eft}
            if "*" in obj:
                patterns.setdefault(sub, []).append(rule)
            else:
                rules.setdefault(sub, {}).setdefault(obj, []).append(rule)
    if any(parent in g2 for parents in g2.values() for parent in parents if "*" in parent):
        raise SystemExit("the Rego assumes no pattern is a group")
    return {
        "g": g,
        "g2": g2,
        "roles": _inner(g),
        "groups": _inner(g2),
        "rules": rules,
        "patterns": patterns,
    }


def _inner(edges: dict[str, list[str]]) -> dict[str, list[str]]:
    """The part of a role graph above its leaves (roles of roles, groups of groups), every node
    a key: ``graph.reachable`` walks it per request, so it must not hold 10,000 users."""
    parents = {p for ps in edges.values() for p in ps}
    return {node: edges.get(node, []) for node in parents}


def request_bodies(
    rng: random.Random, users: Sequence[str], datasets: Sequence[str], n: int
) -> list[dict[str, Any]]:
    return [
        {
            "subject": {"id": rng.choice(users)},
            "action": rng.choice(ACTIONS),
            "resource": {"dataset": rng.choice(datasets)},
            "purpose": rng.choice(PURPOSES),
            "context": {},
        }
        for _ in range(n)
    ]


# ---- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_opa() -> Path:
    """OPA's binary, built once from the Go module proxy into a cache outside the repository."""
    home = OPA_CACHE / "opa"
    binary = home / "bin" / "opa"
    if binary.exists():
        out = subprocess.run([binary, "version"], capture_output=True, text=True).stdout
        if f"Version: {OPA_VERSION.lstrip('v')}" in out:
            return binary
    if shutil.which("go") is None:
        raise SystemExit("Go is needed to build OPA (once): https://go.dev/dl/")
    print(f"building OPA {OPA_VERSION} into {home} (once) ...", flush=True)
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOBIN": str(home / "bin"),
        "GOFLAGS": "-mod=mod",
        "GOMODCACHE": str(home / "mod"),
        "GOCACHE": str(home / "gocache"),
    }
    subprocess.run(
        ["go", "install", f"github.com/open-policy-agent/opa@{OPA_VERSION}"],
        cwd=home,
        env=env,
        check=True,
    )
    return binary


@dataclass
class Server:
    label: str
    proc: subprocess.Popen[bytes]
    url: str
    single_path: str
    batch_path: str
    cpu: list[float] = field(default_factory=list)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"server exited; see {log}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"server did not start; see {log}")


def start_service(
    database_url: str, policy_dir: Path, log: Path, server: str, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "GOVERNANCE_DATABASE_URL": database_url,
        "GOVERNANCE_POLICY_DIR": str(policy_dir),
        "GOVERNANCE_LOG_LEVEL": "WARNING",
        # the PII analyzer is not on the decision path: loading spaCy would take CPU from the run
        "GOVERNANCE_PII__PRELOAD": "false",
    }
    if server == "granian":
        cmd = [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
            "governance.api.main:app",
        ]
    else:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "governance.api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url, log)
    return proc, url


def start_opa(
    opa: Path, work: Path, decision_logs: bool, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [
        str(opa),
        "run",
        "--server",
        "--addr",
        f"127.0.0.1:{port}",
        "--log-level",
        "error",
        str(work / "policy.rego"),
        str(work / "data.json"),
    ]
    if decision_logs:
        cmd[3:3] = ["--set", "decision_logs.console=true"]
        cmd[cmd.index("error")] = "info"  # the console decision logger logs at info
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url, log)
    return proc, url


# ---- measuring ----------------------------------------------------------------------------------


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of ``root`` and every live descendant (from /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(pid, 0.0) for pid in tree)


def lua_script(payloads: Sequence[str], token: str | None) -> str:
    items = ",\n".join(f"[==[{p}]==]" for p in payloads)
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    return f"""
local bodies = {{
{items}
}}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{auth}request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])
end
"""


def to_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@dataclass
class Run:
    rps: float
    p50: float
    p99: float
    requests: int
    cpu_seconds: float
    bad: int


def run_wrk(server: Server, path: str, script: Path, seconds: int, connections: int) -> Run:
    before = tree_cpu_seconds(server.proc.pid)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "60s",
            "--latency",
            "-s",
            str(script),
            server.url + path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = tree_cpu_seconds(server.proc.pid) - before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    if errors:
        print(f"    wrk ({server.label}): {errors.group(0)}")
        bad += 1
    return Run(rps, p50, p99, count, cpu, bad)


def check_answers(
    service: str, token: str, opa: str, bodies: Sequence[dict[str, Any]]
) -> tuple[int, int]:
    """Both servers' answers to the same requests; the number allowed, and of differences."""
    allowed = differ = 0
    with httpx.Client(timeout=30) as client:
        for body in bodies:
            ours = client.post(
                f"{service}/v1/decide", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            ours.raise_for_status()
            theirs = client.post(f"{opa}/v1/data/governance/decision", json={"input": body})
            theirs.raise_for_status()
            a, b = ours.json()["decision"], theirs.json()["result"]
            allowed += a == "allow"
            if a != b:
                differ += 1
                if differ <= 5:
                    print(f"  differ: {json.dumps(body)}: service {a}, OPA {b}")
    return allowed, differ


# ---- the run ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per wrk measurement")
    parser.add_argument("--rounds", type=int, default=2, help="A/B interleaved rounds")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="this service's workers")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    opa = build_opa()

    work = Path(tempfile.mkdtemp(prefix="peer-opa-"))
    rng = random.Random(SEED)
    policy, users, datasets = rbac_policy(rng, 1000, 10_000, 20_000)
    policy, shadowed = servable(work / "policies", policy)
    rules = sum(line.startswith("p,") for line in policy.splitlines())
    print(
        f"workload: bench/pdp.py's RBAC policy, {rules} rules ({shadowed} shadowed ones dropped), "
        f"{len(users):,} users, {len(datasets):,} datasets"
    )
    (work / "policy.rego").write_text(REGO)
    (work / "data.json").write_text(json.dumps(rego_data(policy)))
    bodies = request_bodies(rng, users, datasets, CHECKED)

    database_url = args.database_url or f"sqlite:///{work / 'governance.db'}"
    upgrade(database_url)
    db = create_database(database_url)
    _, token = ApiKeys(db).create(f"bench-{os.getpid()}-{time.time_ns()}", "service", "user:*")
    db.dispose()

    singles = [json.dumps(b) for b in bodies]
    batches = [[bodies[(i * 7 + j) % CHECKED] for j in range(BATCH)] for i in range(50)]
    scripts = {
        ("service", "single"): lua_script(singles, token),
        ("service", "batch"): lua_script([json.dumps({"requests": b}) for b in batches], token),
        ("opa", "single"): lua_script([json.dumps({"input": b}) for b in bodies], None),
        ("opa", "batch"): lua_script(
            [json.dumps({"input": {"requests": b}}) for b in batches], None
        ),
    }
    for (who, kind), text in scripts.items():
        (work / f"{who}-{kind}.lua").write_text(text)

    servers: list[Server] = []
    try:
        proc, url = start_service(
            database_url, work / "policies", work / "service.log", args.server, args.workers
        )
        label = f"this service ({args.server}, {args.workers} workers)"
        servers.append(Server(label, proc, url, "/v1/decide", "/v1/decide/batch"))
        for logs in (False, True):
            proc, url = start_opa(opa, work, logs, work / f"opa{'-logs' if logs else ''}.log")
            label = f"OPA {OPA_VERSION}" + (" + decision logs" if logs else "")
            servers.append(
                Server(
                    label, proc, url, "/v1/data/governance/decision", "/v1/data/governance/batch"
                )
            )
        service, plain = servers[0], servers[1]

        allowed, differ = check_answers(service.url, token, plain.url, bodies)
        print(
            f"answers compared: {CHECKED}; identical: {CHECKED - differ} "
            f"(allow {allowed}, deny {CHECKED - allowed})"
        )
        if differ:
            raise SystemExit(f"{differ} answers differ: the two policies are not equivalent")

        def script(server: Server, kind: str) -> Path:
            return work / f"{'service' if server is service else 'opa'}-{kind}.lua"

        for server in servers:  # warm-up, not counted
            run_wrk(server, server.single_path, script(server, "single"), 3, args.connections)

        results: dict[tuple[str, str], list[Run]] = {}
        for round_ in range(args.rounds):
            order = servers if round_ % 2 == 0 else servers[::-1]
            for kind in ("single", "batch"):
                for server in order:
                    path = server.single_path if kind == "single" else server.batch_path
                    r = run_wrk(server, path, script(server, kind), args.seconds, args.connections)
                    results.setdefault((server.label, kind), []).append(r)
    finally:
        for server in servers:
            server.stop()

    report(results, servers, args)
    db = create_database(database_url)
    from governance.audit import AuditLog
    from governance.config import get_settings

    audit = AuditLog(db, get_settings().audit.hmac_key.get_secret_value().encode())
    print(f"audit records: {audit.count():,}; chain: {audit.verify()}")
    db.dispose()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def report(
    results: dict[tuple[str, str], list[Run]], servers: Sequence[Server], args: argparse.Namespace
) -> None:
    service, plain, logged = servers
    print(
        f"\nwrk -t2 -c{args.connections} -d{args.seconds}s, {args.rounds} interleaved rounds "
        f"(median shown; range in brackets); {os.cpu_count()} CPUs shared by wrk and the servers"
    )
    print(
        f"{'server':<44}{'call':<10}{'req/s':>24}{'decisions/s':>12}{'p99 ms':>22}"
        f"{'CPU µs/decision':>17}{'bad':>5}"
    )

    figures: dict[tuple[str, str], dict[str, float]] = {}
    for kind, per in (("single", 1), ("batch", BATCH)):
        for server in servers:
            runs = results[(server.label, kind)]
            rps = [r.rps for r in runs]
            p99 = [r.p99 for r in runs]
            f = figures[(server.label, kind)] = {
                "rps": statistics.median(rps),
                "dps": statistics.median(rps) * per,
                "p99": statistics.median(p99),
                "cpu": statistics.median(r.cpu_seconds / (r.requests * per) * 1e6 for r in runs),
            }
            rps_text = f"{f['rps']:,.0f} [{min(rps):,.0f}-{max(rps):,.0f}]"
            p99_text = f"{f['p99']:.1f} [{min(p99):.1f}-{max(p99):.1f}]"
            print(
                f"{server.label:<44}{kind:<10}{rps_text:>24}{f['dps']:>12,.0f} {p99_text:>21}"
                f"{f['cpu']:>17,.0f}{sum(r.bad for r in runs):>5}"
            )
    s1, o1, l1 = (figures[(s.label, "single")] for s in (service, plain, logged))
    sb, ob = figures[(service.label, "batch")], figures[(plain.label, "batch")]
    goals = [
        (
            "single req/s ≥ OPA with decision logs",
            f"{s1['rps']:,.0f} vs {l1['rps']:,.0f} ({s1['rps'] / l1['rps']:.2f}x)",
            s1["rps"] >= l1["rps"],
        ),
        (
            "single p99 ≤ OPA's (with decision logs)",
            f"{s1['p99']:.1f} vs {l1['p99']:.1f} ms ({s1['p99'] / l1['p99']:.2f}x)",
            s1["p99"] <= l1["p99"],
        ),
        (
            "batch decisions/s ≥ 3x OPA",
            f"{sb['dps']:,.0f} vs {ob['dps']:,.0f} ({sb['dps'] / ob['dps']:.2f}x)",
            sb["dps"] >= 3 * ob["dps"],
        ),
        ("batch decisions/s ≥ 50,000", f"{sb['dps']:,.0f}", sb["dps"] >= 50_000),
        (
            "CPU per single decision ≤ 300 µs",
            f"{s1['cpu']:,.0f} µs (OPA {o1['cpu']:,.0f}, with logs {l1['cpu']:,.0f})",
            s1["cpu"] <= 300,
        ),
    ]
    print("\ngoals")
    for name, value, met in goals:
        print(f"  {name:<42} {value:<44} {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
