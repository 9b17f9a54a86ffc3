"""An indicator's formula over other indicators: + - * / and parentheses, numbers and codes.

Parsed with Python's `ast` and walked by hand: only those operations are allowed, so a formula
in a YAML file can never run code. Division by zero gives no value, not an error.
"""

from __future__ import annotations

import ast
import re

CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div)


class FormulaError(ValueError):
    """A formula that is not arithmetic over indicator codes."""


def parse(text: str) -> ast.expr:
    """The formula's tree; raises FormulaError naming what is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"not a formula ({exc.msg}): {text!r}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and not isinstance(node.op, _OPERATORS):
            raise FormulaError(f"only + - * / are allowed, not {type(node.op).__name__}")
        if isinstance(node, ast.UnaryOp) and not isinstance(node.op, (ast.UAdd, ast.USub)):
            raise FormulaError(f"only + - * / are allowed, not {type(node.op).__name__}")
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, (int, float))
        ):
            raise FormulaError(f"{node.value!r} is not a number")
        if isinstance(node, ast.Name) and not CODE.match(node.id):
            raise FormulaError(f"'{node.id}' is not an indicator code (upper case, digits, _)")
        if not isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.operator, ast.unaryop, ast.Load)):
            raise FormulaError(f"only + - * /, numbers and indicator codes are allowed, not {type(node).__name__}")
    return tree


def names(text: str) -> list[str]:
    """The indicator codes a formula reads, in order of first use."""
    seen: dict[str, None] = {}
    for node in ast.walk(parse(text)):
        if isinstance(node, ast.Name):
            seen.setdefault(node.id, None)
    return list(seen)


def evaluate(text: str, values: dict[str, float]) -> float | None:
    """The formula's value for these indicator values; None when it divides by zero.
    Raises KeyError for a code without a value."""

    def walk(node: ast.expr) -> float | None:
        if isinstance(node, ast.Constant):
            return float(node.value)  # type: ignore[arg-type]  # a number: parse() checked
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.UnaryOp):
            inner = walk(node.operand)
            return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
        assert isinstance(node, ast.BinOp)
        left, right = walk(node.left), walk(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return None if right == 0 else left / right

    return walk(parse(text))
