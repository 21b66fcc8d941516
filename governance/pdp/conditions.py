"""ABAC conditions (``eval(p.cond)``) compiled to Python code with Casbin's exact semantics.

pycasbin rewrites a rule's condition as text (``r.`` → ``r_``, ``&&`` → ``and``, ``!`` → ``not``)
and evaluates it with simpleeval on every call. Here the same rewrite is applied once, the
expression is parsed once, and the nodes whose simpleeval behaviour equals Python's are
compiled to a code object. Attribute access goes through :func:`_attr`, a copy of
simpleeval's rule (attribute first, then ``obj[name]``, then an error). Anything outside that
whitelist is evaluated by simpleeval itself, so unusual conditions stay exact, just slower.
"""

from __future__ import annotations

import ast
import copy
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import simpleeval
from casbin import util as casbin_util
from casbin.util.expression import SimpleEval

_NOT_RE = re.compile(r"!(?!=)")

_COMPARE_OPS = (
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
)
_UNARY_OPS = (ast.Not, ast.USub, ast.UAdd)
_CONSTANT_TYPES = (str, int, float, bool, type(None))


def casbin_rewrite(text: str) -> str:
    """Casbin's own textual rewrite of a matcher expression into Python syntax."""
    text = text.replace("&&", "and").replace("||", "or")
    return _NOT_RE.sub("not ", text)


def condition_source(rule_text: str) -> str:
    """The Python text Casbin evaluates for ``eval(<rule_text>)`` inside a matcher."""
    return casbin_rewrite("(" + casbin_util.escape_assertion(rule_text) + ")")


class AttributeMissing(simpleeval.AttributeDoesNotExist):  # type: ignore[misc]
    """Raised when a condition reads an attribute the request does not carry."""


def _attr(obj: Any, name: str) -> Any:
    """simpleeval's ``_eval_attribute`` for names already checked at compile time."""
    found = False
    item: Any = None
    try:
        item = getattr(obj, name)
        found = True
    except (AttributeError, TypeError):
        try:
            item = obj[name]
            found = True
        except (KeyError, TypeError):
            pass
    if found:
        if isinstance(item, types.ModuleType):
            raise simpleeval.FeatureNotAvailable("modules are not allowed in attribute access")
        if callable(item) and item in simpleeval.DISALLOW_FUNCTIONS:
            raise simpleeval.FeatureNotAvailable("This function is forbidden")
        return item
    raise AttributeMissing(name, "")


_GLOBALS: dict[str, Any] = {"__builtins__": {}, "_attr_": _attr}


class _Unsupported(Exception):
    pass


class _Compiler(ast.NodeTransformer):
    """Rewrites a whitelisted expression tree into plain Python, or raises ``_Unsupported``."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names
        self.used: set[str] = set()

    def generic_visit(self, node: ast.AST) -> ast.AST:
        raise _Unsupported(type(node).__name__)

    def visit_Expression(self, node: ast.Expression) -> ast.AST:
        node.body = self.visit(node.body)
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        node.values = [self.visit(v) for v in node.values]
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if not isinstance(node.op, _UNARY_OPS):
            raise _Unsupported("unary operator")
        node.operand = self.visit(node.operand)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        if not all(isinstance(op, _COMPARE_OPS) for op in node.ops):
            raise _Unsupported("comparison")
        node.left = self.visit(node.left)
        node.comparators = [self.visit(c) for c in node.comparators]
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if not isinstance(value, _CONSTANT_TYPES):
            raise _Unsupported("constant type")
        if isinstance(value, str) and len(value) > simpleeval.MAX_STRING_LENGTH:
            raise _Unsupported("long literal")
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if not isinstance(node.ctx, ast.Load) or node.id not in self.names:
            raise _Unsupported(f"name {node.id}")
        self.used.add(node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        attr = node.attr
        if attr.startswith(tuple(simpleeval.DISALLOW_PREFIXES)) or (
            attr in simpleeval.DISALLOW_METHODS
        ):
            raise _Unsupported("disallowed attribute")
        call = ast.Call(
            func=ast.Name(id="_attr_", ctx=ast.Load()),
            args=[self.visit(node.value), ast.Constant(value=attr)],
            keywords=[],
        )
        return ast.copy_location(call, node)

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if isinstance(node.slice, ast.Slice):
            raise _Unsupported("slice")
        node.value = self.visit(node.value)
        node.slice = self.visit(node.slice)
        return node

    def _visit_seq(self, node: ast.Tuple | ast.List | ast.Set) -> ast.AST:
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise _Unsupported("starred")
        node.elts = [self.visit(e) for e in node.elts]
        return node

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        return self._visit_seq(node)

    def visit_List(self, node: ast.List) -> ast.AST:
        return self._visit_seq(node)

    def visit_Set(self, node: ast.Set) -> ast.AST:
        return self._visit_seq(node)


@dataclass(frozen=True)
class CompiledCondition:
    """One rule's condition, ready to evaluate against Casbin's parameter dict."""

    source: str
    fast: bool
    names: frozenset[str]
    tree: ast.expr
    _evaluate: Callable[[Mapping[str, Any]], Any]

    def __call__(self, parameters: Mapping[str, Any]) -> Any:
        return self._evaluate(parameters)


def compile_condition(
    rule_text: str, names: frozenset[str], functions: Mapping[str, Any]
) -> CompiledCondition:
    """Compile ``eval(rule_text)``. Raises what Casbin raises when it cannot even parse it."""
    source = condition_source(rule_text)
    parsed = ast.parse(source.strip()).body[0]
    if not isinstance(parsed, ast.Expr):
        raise SyntaxError("condition is not an expression")
    tree = parsed.value
    compiler = _Compiler(names)
    try:
        expression = compiler.visit(ast.Expression(body=_clone(tree)))
        ast.fix_missing_locations(expression)
        code = compile(expression, "<condition>", "eval")
    except _Unsupported:
        return _slow_condition(source, tree, names, functions)

    def evaluate(parameters: Mapping[str, Any]) -> Any:
        return eval(code, _GLOBALS, parameters)  # noqa: S307 - whitelisted AST, no builtins

    return CompiledCondition(source, True, frozenset(compiler.used), tree, evaluate)


def _slow_condition(
    source: str, tree: ast.expr, names: frozenset[str], functions: Mapping[str, Any]
) -> CompiledCondition:
    funcs = dict(functions)

    def evaluate(parameters: Mapping[str, Any]) -> Any:
        # a fresh evaluator per call: simpleeval keeps the names on the instance
        evaluator = SimpleEval("", funcs)
        evaluator.expr = source
        evaluator.ast_parsed_value = tree
        return evaluator.eval(dict(parameters))

    return CompiledCondition(source, False, names, tree, evaluate)


def _clone(node: ast.expr) -> ast.expr:
    return copy.deepcopy(node)
