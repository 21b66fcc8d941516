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
from casbin.util import escape_assertion, replace_eval
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
    """

    def __init__(self, parents: dict[str, tuple[str, ...]], max_level: int = 10) -> None:
        self.parents = parents
        self.max_level = max_level

    @classmethod
    def from_role_manager(cls, rm: Any) -> RoleGraph:
        if rm is None:
            return cls({})
        parents = {name: tuple(r.name for r in role.roles) for name, role in rm.all_roles.items()}
        return cls(parents, rm.max_hierarchy_level)

    def ancestors(self, name: str) -> set[str]:
        reach = {name}
        frontier = [name]
        parents = self.parents
        for _ in range(self.max_level - 1):
            nxt: list[str] = []
            for n in frontier:
                for parent in parents.get(n, ()):
                    if parent not in reach:
                        reach.add(parent)
                        nxt.append(parent)
            if not nxt:
                break
            frontier = nxt
        return reach


@dataclass(frozen=True)
class _Atom:
    """One indexable test of a policy field against the request.

    kind ``role``: ``g(r.x, p.y)``; ``pattern``: ``keyMatch(r.x, p.y)``; ``eq``: ``r.x == p.y``;
    ``const``: ``p.y == "<constant>"``. None of them can raise.
    """

    kind: str
    r_index: int = -1
    graph: RoleGraph | None = None
    constant: str = ""


@dataclass(frozen=True)
class _Clause:
    """A matcher conjunct: an OR of atoms that all test the same policy field."""

    p_index: int
    atoms: tuple[_Atom, ...]

    @property
    def r_indices(self) -> tuple[int, ...]:
        return tuple(a.r_index for a in self.atoms if a.kind != "const")


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
                    getattr(rm, "matching_func", None) is not None
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
        # conditions repeat across rules: compile each distinct text once
        by_text: dict[tuple[str, ...], tuple[str, Any]] = {}
        for i, rule in enumerate(self._rules):
            compiled: tuple[CompiledCondition, ...] = ()
            if len(rule) != len(self._p_tokens):
                self._poisoned[i] = "invalid policy size"
            elif self._eval_tokens:
                texts = tuple(rule[self._p_tokens.index(t)] for t in self._eval_tokens)
                status = by_text.get(texts)
                if status is None:
                    status = self._compile_texts(texts, matcher, template, names, functions)
                    by_text[texts] = status
                kind, value = status
                if kind == "ok":
                    compiled = value
                elif kind == "poisoned":
                    self._poisoned[i] = value
                else:
                    self._opaque[i] = value
            self._conditions.append(compiled)
        self._functions = functions
        self._always = sorted(set(self._poisoned) | set(self._opaque))
        self._index = self._build_index()
        self._admissible_cache: list[dict[Any, frozenset[Any]]] = [{} for _ in self._clauses]
        self._star_prefixes: list[dict[str, list[str]]] = [
            self._prefixes(c.p_index) for c in self._clauses
        ]

    def _compile_texts(
        self,
        texts: tuple[str, ...],
        matcher: str,
        template: ast.expr,
        names: frozenset[str],
        functions: dict[str, Any],
    ) -> tuple[str, Any]:
        """("ok", conditions), ("poisoned", why Casbin fails) or ("opaque", Casbin's expression)."""
        escaped = [escape_assertion(text) for text in texts]
        full = casbin_rewrite(replace_eval(matcher, escaped))
        try:
            full_tree = ast.parse(full.strip()).body[0].value  # type: ignore[attr-defined]
        except Exception as exc:  # Casbin fails on this rule the same way
            return "poisoned", f"condition does not parse: {type(exc).__name__}: {exc}"
        try:
            compiled = tuple(compile_condition(text, names, functions) for text in texts)
            expected = _substitute(template, [c.tree for c in compiled])
            same = ast.dump(expected) == ast.dump(full_tree)
        except Exception:
            same = False
        if not same:
            return "opaque", full
        return "ok", compiled

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

    def _atom(self, node: ast.AST, role_managers: dict[str, Any]) -> tuple[str, _Atom]:
        """Parse one atom; returns the policy field it tests and the atom."""
        call = _call_args(node)
        if call:
            fn, a, b = call
            r_index, _ = self._indices(a, b)
            if fn in role_managers:
                graph = RoleGraph.from_role_manager(role_managers[fn])
                return b, _Atom("role", r_index, graph)
            if fn == "keyMatch":
                return b, _Atom("pattern", r_index)
            raise UnsupportedModel(f"function {fn}")
        eq = _eq_names(node)
        if eq:
            a, b = eq if eq[0].startswith("r_") else (eq[1], eq[0])
            r_index, _ = self._indices(a, b)
            return b, _Atom("eq", r_index)
        const = _eq_constant(node)
        if const and const[0] in self._p_tokens:
            return const[0], _Atom("const", constant=const[1])
        raise UnsupportedModel(f"clause {ast.unparse(node)}")

    def _clause(self, node: ast.AST, role_managers: dict[str, Any]) -> _Clause:
        parts: list[ast.AST] = []

        def flatten(n: ast.AST) -> None:
            if isinstance(n, ast.BoolOp) and isinstance(n.op, ast.Or):
                for v in n.values:
                    flatten(v)
            else:
                parts.append(n)

        flatten(node)
        parsed = [self._atom(p, role_managers) for p in parts]
        fields = {f for f, _ in parsed}
        atoms = tuple(a for _, a in parsed)
        if len(fields) != 1:
            raise UnsupportedModel(f"clause {ast.unparse(node)} tests several policy fields")
        if all(a.kind == "const" for a in atoms):
            raise UnsupportedModel(f"clause {ast.unparse(node)} does not read the request")
        return _Clause(self._p_tokens.index(fields.pop()), atoms)

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

    def _admissible(self, clause_no: int, rvals: Sequence[Any]) -> frozenset[Any]:
        """The policy-field values this clause accepts for the request."""
        clause = self._clauses[clause_no]
        key: tuple[Any, ...] | None = tuple(rvals[i] for i in clause.r_indices)
        cache = self._admissible_cache[clause_no]
        try:
            hit = cache.get(key)
        except TypeError:  # an unhashable request value
            hit, key = None, None
        if hit is not None:
            return hit
        result: set[Any] = set()
        for atom in clause.atoms:
            if atom.kind == "const":
                result.add(atom.constant)
                continue
            value = rvals[atom.r_index]
            if atom.kind == "role" and isinstance(value, str) and atom.graph is not None:
                result |= atom.graph.ancestors(value)
            elif atom.kind == "pattern" and isinstance(value, str):
                result.add(value)
                result |= self._pattern_matches(clause_no, value)
            else:
                with contextlib.suppress(TypeError):  # unhashable: equals no policy string
                    result.add(value)
        frozen = frozenset(result)
        if key is not None:
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
            cache[key] = frozen
        return frozen

    def candidates(self, rvals: Sequence[Any]) -> list[int]:
        """Indices, in file order, of the rules whose indexed fields all match the request."""
        if not self._clauses:
            found = list(self._index) if isinstance(self._index, list) else []
        else:
            current: list[Any] = [self._index]
            for clause_no in range(len(self._clauses)):
                keys = self._admissible(clause_no, rvals)
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
