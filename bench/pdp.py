"""Decision speed: the compiled path against plain ``casbin.Enforcer.enforce``, in one run.

Two generated policies, both in the shipped model (RBAC on subjects and datasets plus ABAC):

* RBAC: 1,000 rules, 10,000 users, 20,000 datasets (the issue's baseline: ~3.8 ms/enforce);
* ABAC: 10,000 rules whose conditions read request attributes (region, channel, consent,
  subject clearance), several of which apply to every request.

For each, the same requests go to Casbin and to the compiled path; every answer is compared
(effect, explained rule, error-or-not) and the run stops if one differs. Casbin is measured on a
sample because it is slow; the compiled path on that sample and on a larger stream. Cold means
the first time a subject or dataset is seen (its role closure is computed then); steady state
repeats requests from a working set. Nothing here is a test: it prints figures.

    python bench/pdp.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from governance.pdp.bundle import new_enforcer  # noqa: E402
from governance.pdp.enforcer import FastEnforcer, casbin_outcome  # noqa: E402

MODEL = ROOT / "policies" / "model.conf"
RBAC_MODEL = ROOT / "bench" / "rbac_model.conf"
ACTIONS = ["read", "write", "export"]
PURPOSES = ["analytics", "marketing", "model_training", "fraud_prevention", "customer_support"]
REGIONS = ["EU", "UK", "US", "APAC"]
CHANNELS = ["web", "app", "store", "callcentre", "crm"]


def rbac_policy(
    rng: random.Random, rules: int, users: int, datasets: int, *, with_cond: bool = True
) -> tuple[str, list[str], list[str]]:
    roles = [f"role:r{i}" for i in range(120)]
    groups = [f"group:g{i}" for i in range(300)]
    namespaces = [f"ns{i}" for i in range(40)]
    lines = []
    for i, role in enumerate(roles[20:], start=20):  # a hierarchy: each role has a parent
        lines.append(f"g, {role}, {roles[rng.randrange(0, min(i, 20))]}")
    user_names = [f"user:u{i}" for i in range(users)]
    for user in user_names:
        for role in rng.sample(roles, rng.randint(1, 3)):
            lines.append(f"g, {user}, {role}")
    dataset_names = [f"{rng.choice(namespaces)}/t{i}" for i in range(datasets)]
    for ds in dataset_names:
        for group in rng.sample(groups, rng.randint(1, 2)):
            lines.append(f"g2, {ds}, {group}")
    for i, ns in enumerate(namespaces[:10]):
        lines.append(f"g2, {ns}/*, {groups[i]}")
    seen = set()
    while len(seen) < rules:
        sub = rng.choice(roles)
        obj = rng.choice(groups) if rng.random() < 0.9 else f"{rng.choice(namespaces)}/*"
        act = rng.choice([*ACTIONS, "*"])
        pur = rng.choice([*PURPOSES, "*"])
        eft = "deny" if rng.random() < 0.05 else "allow"
        key = (sub, obj, act, pur)
        if key in seen:
            continue
        seen.add(key)
        cond = "True, " if with_cond else ""
        lines.append(f"p, {sub}, {obj}, {act}, {pur}, {cond}{eft}")
    rng.shuffle(lines)
    return "\n".join(lines) + "\n", user_names, dataset_names


ABAC_CONDITIONS = [
    'r.ctx.region in ("EU", "UK")',
    'r.ctx.region == "US" && r.ctx.consent == True',
    'r.ctx.channel in ("web", "app") && r.ctx.subject.clearance >= 2',
    "r.ctx.subject.clearance >= 3",
    'r.ctx.consent == True || r.ctx.channel == "store"',
    'r.ctx.resource.sensitivity != "restricted"',
    'r.ctx.subject.department == "marketing" && r.ctx.region != "APAC"',
    "r.ctx.subject.clearance > 1 && r.ctx.consent == True",
]


def abac_policy(
    rng: random.Random, rules: int, users: int, datasets: int
) -> tuple[str, list[str], list[str]]:
    roles = [f"role:r{i}" for i in range(60)]
    groups = [f"group:g{i}" for i in range(80)]
    lines = [f"g, {r}, role:everyone" for r in roles]
    user_names = [f"user:u{i}" for i in range(users)]
    for user in user_names:
        for role in rng.sample(roles, rng.randint(1, 3)):
            lines.append(f"g, {user}, {role}")
    dataset_names = [f"ns{rng.randrange(20)}/t{i}" for i in range(datasets)]
    for ds in dataset_names:
        for group in rng.sample(groups, rng.randint(1, 2)):
            lines.append(f"g2, {ds}, {group}")
    # rules that apply to everyone (residency, consent), like the shipped policy's denies
    for i in range(20):
        cond = rng.choice(ABAC_CONDITIONS)
        lines.append(f"p, role:everyone, {groups[i]}, *, *, !({cond}) && r.ctx.n{i} == 1, deny")
    count = 20
    seen = set()
    while count < rules:
        sub = rng.choice(roles)
        obj = rng.choice(groups)
        act = rng.choice([*ACTIONS, "*"])
        pur = rng.choice([*PURPOSES, "*"])
        cond = rng.choice(ABAC_CONDITIONS)
        extra = f" && r.ctx.subject.level >= {rng.randint(0, 9)}"
        key = (sub, obj, act, pur, cond, extra)
        if key in seen:
            continue
        seen.add(key)
        eft = "deny" if rng.random() < 0.05 else "allow"
        lines.append(f"p, {sub}, {obj}, {act}, {pur}, {cond}{extra}, {eft}")
        count += 1
    rng.shuffle(lines)
    return "\n".join(lines) + "\n", user_names, dataset_names


def requests(
    rng: random.Random,
    users: Sequence[str],
    datasets: Sequence[str],
    n: int,
    *,
    with_ctx: bool = True,
) -> list[tuple[Any, ...]]:
    out = []
    for _ in range(n):
        ctx = {
            "region": rng.choice(REGIONS),
            "channel": rng.choice(CHANNELS),
            "consent": rng.random() < 0.6,
            "subject": {
                "clearance": rng.randint(0, 4),
                "department": rng.choice(["marketing", "data", "support"]),
                "level": rng.randint(0, 9),
            },
            "resource": {"sensitivity": rng.choice(["public", "internal", "restricted"])},
        }
        for i in range(20):
            ctx[f"n{i}"] = rng.randint(0, 1)
        dataset = rng.choice(datasets)
        namespace = dataset.split("/", 1)[0] + "/*"  # the model's r.ns
        req = (rng.choice(users), dataset, namespace, rng.choice(ACTIONS), rng.choice(PURPOSES))
        out.append((*req, ctx) if with_ctx else req)
    return out


def timed(fn: Callable[..., Any], reqs: Sequence[tuple[Any, ...]]) -> tuple[list[float], list[Any]]:
    times, results = [], []
    for r in reqs:
        t0 = time.perf_counter_ns()
        result = fn(*r)
        times.append((time.perf_counter_ns() - t0) / 1000.0)
        results.append(result)
    return times, results


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(label: str, times: Sequence[float]) -> str:
    return (
        f"  {label:<44} n={len(times):>7}  mean {statistics.fmean(times):>10.1f} µs"
        f"  p50 {pct(times, 0.5):>10.1f} µs  p99 {pct(times, 0.99):>10.1f} µs"
    )


def run(
    name: str,
    policy: str,
    users: Sequence[str],
    datasets: Sequence[str],
    casbin_n: int,
    fast_n: int,
    rng: random.Random,
    model: Path = MODEL,
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.csv"
        path.write_text(policy)
        t0 = time.perf_counter()
        oracle = new_enforcer(model, path)
        load_casbin = time.perf_counter() - t0
        t0 = time.perf_counter()
        fast = FastEnforcer(new_enforcer(model, path))
        compile_s = time.perf_counter() - t0 - load_casbin
    rules = len(oracle.model["p"]["p"].policy)
    print(
        f"\n{name}: {rules} rules, {len(users)} users, {len(datasets)} datasets ({model.relative_to(ROOT)})"
    )
    print(
        f"  load: casbin {load_casbin:.2f} s; compiling the fast path adds {max(compile_s, 0):.2f} s"
    )
    with_ctx = len(oracle.model["r"]["r"].tokens) == 6
    sample = requests(rng, users, datasets, casbin_n, with_ctx=with_ctx)
    casbin_times, casbin_results = timed(lambda *r: casbin_outcome(oracle, *r), sample)
    cold_times, fast_results = timed(fast.enforce, sample)
    mismatches = sum(
        not a.same_answer(b) for a, b in zip(fast_results, casbin_results, strict=True)
    )
    allowed = sum(r.allowed for r in casbin_results)
    errors = sum(r.error is not None for r in casbin_results)
    print(
        f"  answers compared: {len(sample)}; identical: {len(sample) - mismatches}"
        f" (allow {allowed}, deny {len(sample) - allowed - errors}, error {errors})"
    )
    if mismatches:
        raise SystemExit(f"{mismatches} answers differ from Casbin: the fast path is wrong")
    if errors == len(sample):
        raise SystemExit("every request errored: the benchmark's requests do not fit the model")
    # steady state: a working set of 2,000 subjects and 2,000 datasets, seen before
    working = requests(rng, users[:2000], datasets[:2000], fast_n, with_ctx=with_ctx)
    fast.candidates(working[0])
    for r in working[:20000]:
        fast.enforce(*r)
    steady_times, _ = timed(fast.enforce, working)
    print(row("casbin.Enforcer.enforce (baseline)", casbin_times))
    print(row("compiled path, cold (same requests)", cold_times))
    print(row("compiled path, steady state", steady_times))
    speed_cold = statistics.fmean(casbin_times) / statistics.fmean(cold_times)
    speed_steady = statistics.fmean(casbin_times) / statistics.fmean(steady_times)
    print(f"  speed-up on mean latency: {speed_cold:,.0f}x cold, {speed_steady:,.0f}x steady state")
    return {
        "casbin_mean": statistics.fmean(casbin_times),
        "fast_p99": pct(steady_times, 0.99),
        "fast_cold_p99": pct(cold_times, 0.99),
        "speedup": speed_cold,
    }


def full_decisions(rng: random.Random, n: int) -> None:
    """The whole decision (obligations, row filter, reason) on the shipped policy."""
    from governance.pdp.decision import AccessRequest
    from governance.pdp.engine import PolicyDecisionPoint

    subjects = [
        "user:alice",
        "user:bob",
        "user:carol",
        "user:dave",
        "service:churn-pipeline",
        "user:grace",
    ]
    datasets = [
        "crm/customers",
        "webshop/orders",
        "webshop/clickstream",
        "app/events",
        "callcentre/calls",
        "ml/churn_features",
    ]
    distinct = [
        AccessRequest.model_validate(
            {
                "subject": {
                    "id": rng.choice(subjects),
                    "attributes": {"privacy_training": rng.random() < 0.5},
                },
                "action": rng.choice(["read", "write"]),
                "resource": {"dataset": rng.choice(datasets)},
                "purpose": rng.choice(
                    ["analytics", "model_training", "customer_support", "marketing"]
                ),
                "context": {
                    "region": rng.choice(["EU", "US"]),
                    "channel": rng.choice(CHANNELS),
                    "batch": i,
                },
            }
        )
        for i in range(5000)
    ]
    reqs = [rng.choice(distinct) for _ in range(n)]
    print(f"\nfull decisions on the shipped policy (obligations per catalogued column), n={n}")
    for label, size in (
        ("decision cache off", 0),
        ("decision cache on (5,000 distinct requests)", 100_000),
    ):
        pdp = PolicyDecisionPoint.from_directory(ROOT / "policies", cache_size=size)
        for r in reqs[:2000]:
            pdp.decide(r)
        t, _ = timed(pdp.decide, [(r,) for r in reqs])
        print(row(f"PolicyDecisionPoint.decide, {label}", t))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    args = parser.parse_args()
    rng = random.Random(20261128)
    casbin_n = 300 if args.quick else 2000
    fast_n = 50_000 if args.quick else 200_000
    print(f"Python {sys.version.split()[0]}; one process, one thread; times per decision")
    rbac = run(
        "RBAC",
        *rbac_policy(rng, 1000, 10_000, 20_000, with_cond=False),
        casbin_n,
        fast_n,
        rng,
        RBAC_MODEL,
    )
    run(
        "RBAC rules in the shipped RBAC+ABAC model",
        *rbac_policy(rng, 1000, 10_000, 20_000),
        max(20, casbin_n // 20),
        fast_n,
        rng,
    )
    abac = run(
        "ABAC", *abac_policy(rng, 10_000, 10_000, 20_000), max(20, casbin_n // 100), fast_n, rng
    )
    full_decisions(rng, 20_000 if args.quick else 100_000)
    print("\ntargets")
    print(
        f"  RBAC speed-up ≥ 100x ............ {rbac['speedup']:,.0f}x  {'met' if rbac['speedup'] >= 100 else 'NOT met'}"
    )
    print(
        f"  RBAC p99 ≤ 50 µs (steady) ....... {rbac['fast_p99']:.1f} µs  {'met' if rbac['fast_p99'] <= 50 else 'NOT met'}"
    )
    print(
        f"  ABAC 10k rules p99 ≤ 2 ms ....... {abac['fast_p99']:.1f} µs steady, {abac['fast_cold_p99']:.1f} µs cold  "
        f"{'met' if max(abac['fast_p99'], abac['fast_cold_p99']) <= 2000 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
