"""The compiled decision path answers exactly what ``casbin.Enforcer.enforce_ex`` answers.

Hypothesis generates policies (role hierarchies deeper than Casbin's limit of 10, cycles, g2
pattern members, explicit denies, ABAC conditions including ones that raise or return the wrong
type, rules that do not parse) and many requests against each, for several model shapes. The
oracle is pycasbin itself, configured the same way; "Casbin raised" must match "error".
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.pdp.bundle import new_enforcer
from governance.pdp.enforcer import FastEnforcer, casbin_outcome

SHIPPED_MODEL = Path(__file__).resolve().parents[3] / "policies" / "model.conf"

ALLOW_ONLY_MODEL = """
[request_definition]
r = sub, obj, act, pur, ctx
[policy_definition]
p = sub, obj, act, pur, cond
[role_definition]
g = _, _
g2 = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && g2(r.obj, p.obj) && r.act == p.act && (p.pur == "*" || r.pur == p.pur) && eval(p.cond)
"""

ACL_MODEL = """
[request_definition]
r = sub, obj, act, pur, ctx
[policy_definition]
p = sub, obj, act, pur, cond, eft
[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))
[matchers]
m = r.sub == p.sub && (p.obj == r.obj || "*" == p.obj) && r.act == p.act && (r.pur == p.pur || p.pur == "*" || p.pur == "any") && eval(p.cond)
"""

PRIORITY_MODEL = """
[request_definition]
r = sub, obj, act, pur, ctx
[policy_definition]
p = sub, obj, act, pur, cond, eft
[role_definition]
g = _, _
g2 = _, _
[policy_effect]
e = priority(p.eft) || deny
[matchers]
m = g(r.sub, p.sub) && keyMatch(r.obj, p.obj) && (r.act == p.act || p.act == "*") && r.pur == p.pur && eval(p.cond)
"""

USERS = [f"user:u{i}" for i in range(6)]
ROLES = [f"role:r{i}" for i in range(14)]
DATASETS = ["crm/a", "crm/b", "web/a", "web/orders", "app/x", "ml/f1"]
GROUPS = [f"group:g{i}" for i in range(5)]
PATTERNS = ["crm/*", "web/*", "w*", "ml/f*", "*"]
NAMESPACES = ["crm/*", "web/*", "app/*", "ml/*"]
ACTIONS = ["read", "write"]
PURPOSES = ["analytics", "marketing", "model_training"]

ATOMS = [
    "True",
    "False",
    'r.ctx.region == "EU"',
    'r.ctx.region in ("EU", "UK")',
    'r.ctx.region not in ("EU", "EEA")',
    "r.ctx.consent == True",
    "r.ctx.consent",
    "!r.ctx.consent",
    "r.ctx.subject.level >= 2",
    "r.ctx.subject.level < 5",
    "r.ctx.n",
    "r.ctx.score",
    "r.ctx.items == 1",
    "r.ctx.resource.tags == ['pii']",
    'r.sub == "user:u1"',
    'p.act == "write"',
    "r.ctx.region is None",
    "1.5",
    "0.0",
    "r.ctx.n > 2 && r.ctx.n < 9",
    'r.ctx.region != "US" || r.ctx.consent == False',
    "-r.ctx.n < 0",
    'r.ctx["region"] == "EU"',
    "r.ctx.get",
    "r.ctx.region + 1 == 2",
    "r.ctx.__class__",
    "(r.ctx.n if r.ctx.consent else 0) > 1",
    "keyMatch(r.obj, 'crm/*')",
]
BROKEN = ["True &&", "r.ctx.region ==", "r.ctx. region", "x.y"]


@st.composite
def conditions(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 39))
    if kind < 16 or kind > 30:
        return "True"
    if kind == 30:
        return draw(st.sampled_from(BROKEN))
    first = draw(st.sampled_from(ATOMS))
    if kind < 24:
        return first
    second = draw(st.sampled_from(ATOMS))
    op = draw(st.sampled_from(["&&", "||"]))
    return f"{first} {op} {second}"


@st.composite
def policies(draw: st.DrawFn, *, with_eft: bool = True, obj_pool: list[str] | None = None) -> str:
    objects = obj_pool or DATASETS + GROUPS + PATTERNS
    lines = []
    # roles: a chain longer than Casbin's hierarchy limit, plus random links and cycles
    chain = draw(st.integers(0, len(ROLES) - 1))
    for i in range(chain):
        lines.append(f"g, {ROLES[i]}, {ROLES[i + 1]}")
    for _ in range(draw(st.integers(0, 8))):
        child = draw(st.sampled_from(USERS + ROLES))
        parent = draw(st.sampled_from(ROLES))
        lines.append(f"g, {child}, {parent}")
    for _ in range(draw(st.integers(0, 10))):
        member = draw(st.sampled_from(DATASETS + NAMESPACES + GROUPS))
        group = draw(st.sampled_from(GROUPS))
        lines.append(f"g2, {member}, {group}")
    for _ in range(draw(st.integers(1, 14))):
        sub = draw(st.sampled_from(USERS + ROLES))
        obj = draw(st.sampled_from(objects))
        act = draw(st.sampled_from([*ACTIONS, "*"]))
        pur = draw(st.sampled_from([*PURPOSES, "*"]))
        cond = draw(conditions())
        if with_eft:
            eft = draw(st.sampled_from(["allow", "allow", "allow", "deny", "other"]))
            lines.append(f"p, {sub}, {obj}, {act}, {pur}, {cond}, {eft}")
        else:
            lines.append(f"p, {sub}, {obj}, {act}, {pur}, {cond}")
    draw(st.randoms()).shuffle(lines)
    return "\n".join(lines) + "\n"


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10),
    st.sampled_from([0.0, 1.5]),
    st.sampled_from(["EU", "UK", "US", "EEA", "", "pii"]),
)


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    for key in ("region", "consent", "n", "score", "items"):
        if draw(st.integers(0, 3)):
            ctx[key] = draw(json_scalars)
    if draw(st.booleans()):
        ctx["subject"] = draw(
            st.dictionaries(st.sampled_from(["level", "dept"]), json_scalars, max_size=2)
        )
    else:
        ctx["subject"] = {}
    ctx["resource"] = draw(
        st.one_of(st.just({}), st.just({"tags": ["pii"]}), st.just({"tags": []}))
    )
    return ctx


@st.composite
def requests(draw: st.DrawFn, policy: str = "") -> tuple[Any, ...]:
    """A request; half of them aimed at one of the policy's own rules, so many match."""
    rules = [line.split(", ") for line in policy.splitlines() if line.startswith("p, ")]
    members = {}
    for line in policy.splitlines():
        parts = line.split(", ")
        if parts[0] in ("g", "g2"):
            members.setdefault(parts[2], []).append(parts[1])
    if rules and draw(st.booleans()):
        rule = draw(st.sampled_from(rules))
        sub = draw(st.sampled_from([rule[1], *members.get(rule[1], [])]))
        obj = draw(st.sampled_from([rule[2], *members.get(rule[2], [])]))
        obj = obj.replace("*", draw(st.sampled_from(["", "a", "rm/a", "eb/orders"])))
        act = rule[3] if rule[3] != "*" else draw(st.sampled_from(ACTIONS))
        pur = rule[4] if rule[4] != "*" else draw(st.sampled_from(PURPOSES))
        return (sub, obj, act, pur, draw(contexts()))
    return (
        draw(st.sampled_from([*USERS, *ROLES, "user:nobody"])),
        draw(st.sampled_from([*DATASETS, "crm/zzz", "web", "group:g1", "other/thing"])),
        draw(st.sampled_from([*ACTIONS, "delete"])),
        draw(st.sampled_from([*PURPOSES, "sale_of_data"])),
        draw(contexts()),
    )


def with_namespace(req: tuple[Any, ...]) -> tuple[Any, ...]:
    """The shipped model's request: the dataset's namespace pattern after the dataset."""
    sub, obj, act, pur, ctx = req
    return (sub, obj, obj.split("/", 1)[0] + "/*", act, pur, ctx)


def _compare(model_text: str, policy_text: str, reqs: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.conf"
        policy = Path(tmp) / "policy.csv"
        model.write_text(model_text)
        policy.write_text(policy_text)
        oracle = new_enforcer(model, policy)
        fast = FastEnforcer(new_enforcer(model, policy))
    for req in reqs:
        expected = casbin_outcome(oracle, *req)
        actual = fast.enforce(*req)
        assert actual.same_answer(expected), (
            f"\npolicy:\n{policy_text}\nrequest: {req}\ncasbin: {expected}\nfast:   {actual}"
        )


DIFF = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@DIFF
@given(policy=policies(), data=st.data())
def test_shipped_model_matches_casbin(policy: str, data: st.DataObject) -> None:
    reqs = data.draw(st.lists(requests(policy), min_size=40, max_size=40))
    _compare(SHIPPED_MODEL.read_text(), policy, [with_namespace(r) for r in reqs])


@settings(DIFF, max_examples=100)
@given(policy=policies(with_eft=False, obj_pool=DATASETS + GROUPS), data=st.data())
def test_allow_override_model_matches_casbin(policy: str, data: st.DataObject) -> None:
    reqs = data.draw(st.lists(requests(policy), min_size=30, max_size=30))
    _compare(ALLOW_ONLY_MODEL, policy, reqs)


@settings(DIFF, max_examples=100)
@given(policy=policies(obj_pool=[*DATASETS, "*"]), data=st.data())
def test_acl_model_matches_casbin(policy: str, data: st.DataObject) -> None:
    reqs = data.draw(st.lists(requests(policy), min_size=30, max_size=30))
    _compare(ACL_MODEL, policy, reqs)


@settings(DIFF, max_examples=100)
@given(policy=policies(obj_pool=DATASETS + PATTERNS), data=st.data())
def test_priority_model_matches_casbin(policy: str, data: st.DataObject) -> None:
    reqs = data.draw(st.lists(requests(policy), min_size=30, max_size=30))
    _compare(PRIORITY_MODEL, policy, reqs)


def test_shipped_policy_matches_casbin_on_the_example_requests() -> None:
    """The shipped policy files themselves, over every subject, dataset and purpose."""
    root = SHIPPED_MODEL.parent
    oracle = new_enforcer(root / "model.conf", root / "policy.csv")
    fast = FastEnforcer(new_enforcer(root / "model.conf", root / "policy.csv"))
    subjects = ["user:alice", "user:bob", "user:carol", "user:dave", "service:churn-pipeline"]
    datasets = ["crm/customers", "webshop/payments", "callcentre/calls", "ml/churn_features"]
    checked = 0
    for sub in subjects:
        for obj in datasets:
            for act in ("read", "write", "reidentify"):
                for pur in ("analytics", "marketing", "model_training", "customer_support"):
                    for ctx in (
                        {"region": "EU", "channel": "web", "subject": {}, "resource": {}},
                        {
                            "region": "US",
                            "channel": "crm",
                            "subject": {"privacy_training": True},
                            "resource": {},
                        },
                        {"subject": {}, "resource": {}},
                    ):
                        req = with_namespace((sub, obj, act, pur, ctx))
                        assert fast.enforce(*req).same_answer(casbin_outcome(oracle, *req)), req
                        checked += 1
    assert checked == 5 * 4 * 3 * 4 * 3
