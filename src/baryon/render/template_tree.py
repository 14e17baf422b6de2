"""Checks and rewrites a parsed template before it is compiled.

Refused outright: ``{% include %}``, ``{% import %}``, ``{% from ... import %}`` and
``{% extends %}``. A bundle's IaC file is rendered on its own (Proton has no loader either),
and without this check Jinja would only say "no loader for this environment specified".

Rewritten so the sandbox can count what Jinja does not hook by itself:

* a loop's iterable goes through ``budget_iterate``: every iteration costs a step;
* ``a ~ b`` goes through ``budget_concat``: joined strings are size-checked first;
* list, tuple and dict literals go through ``budget_literal``: ``[x, x]`` repeated cannot
  grow a value that is tiny in memory but enormous as text;
* comparison operands go through ``budget_operand``: comparing large values costs steps;
* template text becomes constant expressions, so it passes the output hook (finalize) and
  counts against the budget like any other output.

Only node classes and the NodeTransformer from Jinja's public API are used.
"""

from __future__ import annotations

from jinja2 import nodes
from jinja2.visitor import NodeTransformer

from baryon.render.errors import RenderError

_REFUSED: dict[type[nodes.Node], str] = {
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
}


def prepare(tree: nodes.Template, file: str) -> nodes.Template:
    for node in tree.find_all(tuple(_REFUSED)):
        raise RenderError(
            f"{_REFUSED[type(node)]} is not supported: a template is rendered on its own "
            "and cannot read other files",
            file=file,
            line=node.lineno,
        )
    rewritten = _BudgetRewriter().visit(tree)
    assert isinstance(rewritten, nodes.Template)
    return rewritten


def _hook(name: str, argument: nodes.Expr) -> nodes.Call:
    return nodes.Call(
        nodes.EnvironmentAttribute(name, lineno=argument.lineno),
        [argument],
        [],
        None,
        None,
        lineno=argument.lineno,
    )


class _BudgetRewriter(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        assert isinstance(node.iter, nodes.Expr)  # the parser only puts expressions here
        node.iter = _hook("budget_iterate", node.iter)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            nodes.Const(child.data, lineno=child.lineno)
            if isinstance(child, nodes.TemplateData)
            else child
            for child in node.nodes
        ]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _hook("budget_concat", nodes.List(node.nodes, lineno=node.lineno))

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        node.expr = _hook("budget_operand", node.expr)
        for operand in node.ops:
            operand.expr = _hook("budget_operand", operand.expr)
        return node

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return _hook("budget_literal", node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        return _hook("budget_literal", node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        # Tuples are also assignment targets ({% set a, b = ... %}); only built ones count.
        return _hook("budget_literal", node) if node.ctx == "load" else node
