"""A compiled decision path that returns exactly what ``casbin.Enforcer.enforce_ex`` returns.

pycasbin evaluates the whole matcher against every rule on every call. This module reads the
loaded Casbin model once and builds:

* an index of the rules by every matcher clause that cannot raise (``g(r.sub, p.sub)``,
  ``g2(r.obj, p.obj) || keyMatch(r.obj, p.obj)``, ``r.act == p.act``, ``p.pur == "*"`` …),
  nested in clause order, so a request only visits the rules whose indexed fields match;
* role closures computed from Casbin's own role managers, with the same hierarchy limit;
* the ``eval(p.cond)`` conditions compiled once (see ``conditions``).

Candidates are then evaluated in file order and combined by Casbin's own effector object, so
early termination, the explained rule and even *whether Casbin would raise* are the same. A
model outside the supported shape raises ``UnsupportedModel`` and callers fall back to Casbin.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import casbin
from casbin.effect import Effector
from casbin.util import escape_assertion, key_match, replace_eval
from casbin.util.builtin_operators import generate_g_function
from casbin.util.expression import SimpleEval

from governance.pdp.conditions import CompiledCondition, casbin_rewrite, compile_condition

_EVAL_RE = re.compile(r"\beval\((?P<rule>[^)]*)\)")
_CACHE_LIMIT = 200_000


class UnsupportedModel(Exception):
    """The model's matcher is not one the compiled path reproduces exactly."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What Casbin would answer: allowed, the explained rule index, or the error it raises."""

    allowed: bool
    rule_index: int = -1
    error: str | None = None
    granted: tuple[int, ...] = ()
    """Every matched allow rule (for obligations); not part of Casbin's answer."""

    def same_answer(self, other: Outcome) -> bool:
        """Equal as Casbin answers: effect, explained rule, and whether evaluation raised."""
        return (self.allowed, self.rule_index, self.error is None) == (
            other.allowed,
            other.rule_index,
            other.error is None,
        )


# ---- matcher clauses -------------------------------------------------------------------------


class RoleGraph:
    """A frozen copy of a Casbin role manager's links, with ``has_link`` semantics.

    ``has_link(a, b)`` holds when ``b`` is reachable from ``a`` in fewer than
    ``max_hierarchy_level`` steps (``a`` itself included), exactly as the default role manager.
    With ``patterns`` (keyMatch registered as the matching function) a name also inherits the
    roles of every pattern member that matches it, as Casbin's ``copy_from`` does.
    """

    def __init__(
        self,
        parents: dict[str, tuple[str, ...]],
        max_level: int = 10,
        *,
        patterns: bool = False,
    ) -> None:
        self.parents = parents
        self.max_level = max_level
        self._by_prefix: dict[str, list[str]] = {}
        if patterns:
            for name in parents:
                star = name.find("*")
                if star != -1:
                    self._by_prefix.setdefault(name[:star], []).append(name)

    @classmethod
    def from_role_manager(cls, rm: Any) -> RoleGraph:
        if rm is None:
            return cls({})
        parents = {name: tuple(r.name for r in role.roles) for name, role in rm.all_roles.items()}
        patterns = getattr(rm, "matching_func", None) is key_match
        return cls(parents, rm.max_hierarchy_level, patterns=patterns)

    def direct(self, name: str) -> tuple[str, ...] | set[str]:
        own = self.parents.get(name, ())
        if not self._by_prefix:
            return own
        found: set[str] = set(own)
        for end in range(len(name) + 1):
            for pattern in self._by_prefix.get(name[:end], ()):
                if pattern != name:
                    found.update(self.parents[pattern])
        return found

    def ancestors(self, name: str) -> set[str]:
        reach = {name}
        frontier = [name]
        for _ in range(self.max_level - 1):
            nxt: list[str] = []
            for n in frontier:
                for parent in self.direct(n):
                    if parent not in reach:
                        reach.add(parent)
                        nxt.append(parent)
            if not nxt:
                break
            frontier = nxt
        return reach

    def names(self) -> set[str]:
        out = set(self.parents)
        for ps in self.parents.values():
            out.update(ps)
        return out


@dataclass(frozen=True)
class _RoleClause:
    """``g(r.x, p.y)``, optionally ``|| keyMatch(r.x, p.y)``."""

    r_index: int
    p_index: int
    graph: RoleGraph
    with_pattern: bool


@dataclass(frozen=True)
class _PatternClause:
    """``keyMatch(r.x, p.y)``."""

    r_index: int
    p_index: int


@dataclass(frozen=True)
class _EqClause:
    """``r.x == p.y``, optionally ``|| p.y == "<wildcard>"``."""

    r_index: int
    p_index: int
    wildcard: str | None


_Clause = _RoleClause | _PatternClause | _EqClause


def _name(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def _call_args(node: ast.AST) -> tuple[str, str, str] | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and len(node.args) == 2
        and not node.keywords
    ):
        a, b = _name(node.args[0]), _name(node.args[1])
        if a and b:
            return node.func.id, a, b
    return None


def _eq_names(node: ast.AST) -> tuple[str, str] | None:
    if (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.Eq)
        and isinstance(node.left, ast.Name)
        and isinstance(node.comparators[0], ast.Name)
    ):
        return node.left.id, node.comparators[0].id
    return None


def _eq_constant(node: ast.AST) -> tuple[str, str] | None:
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
        left, right = node.left, node.comparators[0]
        if (
            isinstance(left, ast.Name)
            and isinstance(right, ast.Constant)
            and isinstance(right.value, str)
        ):
            return left.id, right.value
        if (
            isinstance(right, ast.Name)
            and isinstance(left, ast.Constant)
            and isinstance(left.value, str)
        ):
            return right.id, left.value
    return None


class FastEnforcer:
    """Casbin-equivalent decisions for one loaded policy. Immutable apart from its caches."""

    def __init__(self, enforcer: casbin.Enforcer) -> None:
        model = enforcer.model
        if enforcer.cond_rm_map:
            raise UnsupportedModel("conditional role managers are not supported")
        for key in ("r", "p", "e", "m"):
            if key not in model.keys() or key not in model[key]:
                raise UnsupportedModel(f"section {key} missing")
        self._r_tokens: list[str] = list(model["r"]["r"].tokens)
        self._p_tokens: list[str] = list(model["p"]["p"].tokens)
        self._rules: list[list[str]] = [list(r) for r in model["p"]["p"].policy]
        if not self._rules:
            raise UnsupportedModel("no rules: nothing to index")
        self._effector: Effector = enforcer.eft
        self._eft_index = self._p_tokens.index("p_eft") if "p_eft" in self._p_tokens else None
        functions = enforcer.fm.get_functions()
        role_managers: dict[str, Any] = {}
        if "g" in model.keys():
            for key, assertion in model["g"].items():
                rm = assertion.rm
                if rm is not None and (
                    getattr(rm, "matching_func", None) not in (None, key_match)
                    or getattr(rm, "domain_matching_func", None) is not None
                    or not hasattr(rm, "all_roles")
                ):
                    raise UnsupportedModel(f"role manager {key} uses matching functions")
                role_managers[key] = rm
                if enforcer.rm_map:
                    functions[key] = generate_g_function(rm)
        matcher = model["m"]["m"].value
        self._clauses, self._eval_tokens, template = self._analyse(matcher, role_managers)
        names = frozenset(self._r_tokens) | frozenset(self._p_tokens)
        # rules Casbin cannot evaluate at all, and rules that must go through Casbin's own
        # expression because their condition text changes the matcher's structure
        self._poisoned: dict[int, str] = {}
        self._opaque: dict[int, str] = {}
        self._conditions: list[tuple[CompiledCondition, ...]] = []
        for i, rule in enumerate(self._rules):
            compiled: tuple[CompiledCondition, ...] = ()
            if len(rule) != len(self._p_tokens):
                self._poisoned[i] = "invalid policy size"
            elif self._eval_tokens:
                compiled = self._compile_rule(i, rule, matcher, template, names, functions)
            self._conditions.append(compiled)
        self._functions = functions
        self._always = sorted(set(self._poisoned) | set(self._opaque))
        self._index = self._build_index()
        self._admissible_cache: list[dict[Any, frozenset[str]]] = [{} for _ in self._clauses]
        self._star_prefixes: list[dict[str, list[str]]] = [
            self._prefixes(c.p_index) for c in self._clauses
        ]

    def _compile_rule(
        self,
        i: int,
        rule: list[str],
        matcher: str,
        template: ast.expr,
        names: frozenset[str],
        functions: dict[str, Any],
    ) -> tuple[CompiledCondition, ...]:
        params = dict(zip(self._p_tokens, rule, strict=True))
        texts = [escape_assertion(params[token]) for token in self._eval_tokens]
        full = casbin_rewrite(replace_eval(matcher, list(texts)))
        try:
            full_tree = ast.parse(full.strip()).body[0].value  # type: ignore[attr-defined]
        except Exception as exc:  # Casbin fails on this rule the same way
            self._poisoned[i] = f"condition does not parse: {type(exc).__name__}: {exc}"
            return ()
        compiled: list[CompiledCondition] = []
        try:
            for token in self._eval_tokens:
                compiled.append(compile_condition(params[token], names, functions))
            expected = _substitute(template, [c.tree for c in compiled])
            same = ast.dump(expected) == ast.dump(full_tree)
        except Exception:
            same = False
        if not same:
            self._opaque[i] = full
            return ()
        return tuple(compiled)

    # ---- construction ------------------------------------------------------------------------

    def _analyse(
        self, matcher: str, role_managers: dict[str, Any]
    ) -> tuple[list[_Clause], list[str], ast.expr]:
        eval_tokens = _EVAL_RE.findall(matcher)
        text = matcher
        for i in range(len(eval_tokens)):
            text = _EVAL_RE.sub(f"__eval{i}__", text, count=1)
        try:
            tree = ast.parse(casbin_rewrite(text).strip(), mode="eval").body
        except SyntaxError as exc:
            raise UnsupportedModel(f"matcher does not parse: {exc}") from exc
        conjuncts = (
            tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
        )
        clauses: list[_Clause] = []
        evals_seen = 0
        for node in conjuncts:
            placeholder = _name(node)
            if placeholder and placeholder.startswith("__eval"):
                evals_seen += 1
                continue
            if evals_seen:
                raise UnsupportedModel("eval() must come after every other matcher clause")
            clauses.append(self._clause(node, role_managers))
        if evals_seen != len(eval_tokens):
            raise UnsupportedModel("eval() may only appear as a top-level conjunct")
        p_used = [c.p_index for c in clauses]
        if len(set(p_used)) != len(p_used):
            raise UnsupportedModel("two clauses constrain the same policy field")
        for token in eval_tokens:
            if token not in self._p_tokens:
                raise UnsupportedModel(f"eval() of unknown policy field {token}")
        return clauses, eval_tokens, tree

    def _indices(self, r_name: str, p_name: str) -> tuple[int, int]:
        if r_name not in self._r_tokens or p_name not in self._p_tokens:
            raise UnsupportedModel(f"clause compares {r_name} and {p_name}")
        return self._r_tokens.index(r_name), self._p_tokens.index(p_name)

    def _clause(self, node: ast.AST, role_managers: dict[str, Any]) -> _Clause:
        call = _call_args(node)
        if call:
            fn, a, b = call
            if fn in role_managers:
                return self._role_clause(fn, a, b, role_managers, with_pattern=False)
            if fn == "keyMatch":
                return _PatternClause(*self._indices(a, b))
            raise UnsupportedModel(f"function {fn}")
        eq = _eq_names(node)
        if eq:
            a, b = eq if eq[0].startswith("r_") else (eq[1], eq[0])
            return _EqClause(*self._indices(a, b), wildcard=None)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) == 2:
            left, right = node.values
            calls = [_call_args(left), _call_args(right)]
            if calls[0] and calls[1]:
                kinds = {c[0] for c in calls if c}
                pairs = {(c[1], c[2]) for c in calls if c}
                role_fns = [k for k in kinds if k in role_managers]
                if len(pairs) == 1 and len(role_fns) == 1 and kinds == {role_fns[0], "keyMatch"}:
                    a, b = pairs.pop()
                    return self._role_clause(role_fns[0], a, b, role_managers, with_pattern=True)
            for wild_node, eq_node in ((left, right), (right, left)):
                wild, pair = _eq_constant(wild_node), _eq_names(eq_node)
                if wild and pair and wild[0] in pair and wild[0].startswith("p_"):
                    p_name = wild[0]
                    r_name = pair[0] if pair[1] == p_name else pair[1]
                    return _EqClause(*self._indices(r_name, p_name), wildcard=wild[1])
        raise UnsupportedModel(f"clause {ast.unparse(node)}")

    def _role_clause(
        self, fn: str, a: str, b: str, role_managers: dict[str, Any], *, with_pattern: bool
    ) -> _RoleClause:
        r_index, p_index = self._indices(a, b)
        graph = RoleGraph.from_role_manager(role_managers[fn])
        return _RoleClause(r_index, p_index, graph, with_pattern)

    def _build_index(self) -> dict[Any, Any] | list[int]:
        root: dict[Any, Any] | list[int] = {} if self._clauses else []
        for i, rule in enumerate(self._rules):
            if i in self._poisoned or i in self._opaque:
                continue
            if not self._clauses:
                assert isinstance(root, list)
                root.append(i)
                continue
            node: Any = root
            for depth, clause in enumerate(self._clauses):
                key = rule[clause.p_index]
                last = depth == len(self._clauses) - 1
                node = node.setdefault(key, [] if last else {})
            node.append(i)
        return root

    def _prefixes(self, p_index: int) -> dict[str, list[str]]:
        """Star patterns of one policy field by prefix: keyMatch(x, p) ⇔ x.startswith(prefix)."""
        out: dict[str, list[str]] = {}
        for rule in self._rules:
            if len(rule) <= p_index:
                continue
            value = rule[p_index]
            star = value.find("*")
            if star != -1:
                bucket = out.setdefault(value[:star], [])
                if value not in bucket:
                    bucket.append(value)
        return out

    # ---- request path ------------------------------------------------------------------------

    def _pattern_matches(self, clause_no: int, value: str) -> set[str]:
        by_prefix = self._star_prefixes[clause_no]
        found: set[str] = set()
        if by_prefix:
            for end in range(len(value) + 1):
                bucket = by_prefix.get(value[:end])
                if bucket:
                    found.update(bucket)
        return found

    def _admissible(self, clause_no: int, value: Any) -> frozenset[str]:
        cache = self._admissible_cache[clause_no]
        hit = cache.get(value)
        if hit is not None:
            return hit
        clause = self._clauses[clause_no]
        result: set[str]
        if isinstance(clause, _RoleClause):
            result = clause.graph.ancestors(value) if isinstance(value, str) else {value}
            if clause.with_pattern and isinstance(value, str):
                result |= self._pattern_matches(clause_no, value)
        elif isinstance(clause, _PatternClause):
            result = {value}
            if isinstance(value, str):
                result |= self._pattern_matches(clause_no, value)
        else:
            result = {value} if clause.wildcard is None else {value, clause.wildcard}
        frozen = frozenset(result)
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        with contextlib.suppress(TypeError):  # unhashable request value: nothing to cache
            cache[value] = frozen
        return frozen

    def candidates(self, rvals: Sequence[Any]) -> list[int]:
        """Indices, in file order, of the rules whose indexed fields all match the request."""
        if not self._clauses:
            found = list(self._index) if isinstance(self._index, list) else []
        else:
            current: list[Any] = [self._index]
            for clause_no, clause in enumerate(self._clauses):
                keys = self._admissible(clause_no, rvals[clause.r_index])
                nxt: list[Any] = []
                for node in current:
                    if len(keys) < len(node):
                        for key in keys:
                            child = node.get(key)
                            if child is not None:
                                nxt.append(child)
                    else:
                        for key, child in node.items():
                            if key in keys:
                                nxt.append(child)
                if not nxt:
                    found = []
                    break
                current = nxt
            else:
                found = [i for leaf in current for i in leaf]
        if self._always:
            found.extend(self._always)
        if len(found) > 1:
            found.sort()
        return found

    def enforce(self, *rvals: Any) -> Outcome:
        """Decide like ``casbin.Enforcer.enforce_ex``; ``error`` is set where Casbin raises."""
        if len(rvals) != len(self._r_tokens):
            return Outcome(False, -1, "invalid request size")
        effector = self._effector
        effects: set[int] = set()
        granted: list[int] = []
        explain = -1
        params: dict[str, Any] | None = None
        value: Any
        for i in self.candidates(rvals):
            rule = self._rules[i]
            conditions = self._conditions[i]
            if i in self._always:
                poisoned = self._poisoned.get(i)
                if poisoned is not None:
                    return Outcome(False, -1, poisoned)
                params = dict(zip(self._r_tokens, rvals, strict=True))
                params.update(zip(self._p_tokens, rule, strict=True))
                try:
                    value = SimpleEval(self._opaque[i], self._functions).eval(params)
                except Exception as exc:
                    return Outcome(False, -1, f"{type(exc).__name__}: {exc}")
                params = None
                if isinstance(value, bool):
                    if not value:
                        continue
                elif isinstance(value, float):
                    if value == 0:
                        continue
                else:
                    return Outcome(False, -1, "matcher result should be bool, int or float")
            elif conditions:
                if params is None:
                    params = dict(zip(self._r_tokens, rvals, strict=True))
                params.update(zip(self._p_tokens, rule, strict=True))
                try:
                    value = True
                    for condition in conditions:
                        value = condition(params)
                        if not value:
                            break
                except Exception as exc:
                    return Outcome(False, -1, f"{type(exc).__name__}: {exc}")
                if isinstance(value, bool):
                    if not value:
                        continue
                elif isinstance(value, float):
                    if value == 0:
                        continue
                else:
                    return Outcome(False, -1, "matcher result should be bool, int or float")
            eft = "allow" if self._eft_index is None else rule[self._eft_index]
            if eft == "allow":
                effects.add(Effector.ALLOW)
                granted.append(i)
            elif eft == "deny":
                effects.add(Effector.DENY)
            else:
                effects.add(Effector.INDETERMINATE)
            explain = i
            if effector.intermediate_effect(effects) != Effector.INDETERMINATE:
                break
        if not effects:
            effects.add(Effector.INDETERMINATE)
        allowed = effector.final_effect(effects) == Effector.ALLOW
        return Outcome(allowed, explain, None, tuple(granted) if allowed else ())

    def rule(self, index: int) -> list[str]:
        return self._rules[index]

    @property
    def rules(self) -> list[list[str]]:
        return self._rules

    @property
    def slow_conditions(self) -> int:
        """How many rule conditions run through simpleeval rather than compiled code."""
        return sum(1 for conds in self._conditions for c in conds if not c.fast)


def _substitute(template: ast.expr, trees: list[ast.expr]) -> ast.expr:
    """The matcher tree with each ``__evalN__`` placeholder replaced by condition N's tree."""

    class _Fill(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id.startswith("__eval") and node.id.endswith("__"):
                return trees[int(node.id[6:-2])]
            return node

    return _Fill().visit(copy.deepcopy(template))  # type: ignore[no-any-return]


def casbin_outcome(enforcer: casbin.Enforcer, *rvals: Any) -> Outcome:
    """Casbin's own answer as an ``Outcome``: the oracle of the differential tests."""
    try:
        allowed, explain = enforcer.enforce_ex(*rvals)
    except Exception as exc:
        return Outcome(False, -1, f"{type(exc).__name__}: {exc}")
    index = -1
    if explain:
        rules = enforcer.model["p"]["p"].policy
        for i, rule in enumerate(rules):
            if rule is explain:
                index = i
                break
        else:
            index = rules.index(explain)
    granted = (index,) if allowed and index >= 0 else ()
    return Outcome(bool(allowed), index, None, granted)
