"""Find a learner's async test functions and uses of ASGITransport in the source.

pytest's report cannot tell an async test from a sync one. A test's keywords
contain its marks, but also its parametrize ids, so a plain `def` test
parametrized with the id "asyncio" has the keyword that the asyncio mark
gives. The grader reads the test files instead (it never runs them here),
names each `async def` function by the node id pytest gives it, and matches
those names to the report's node ids.
"""

from __future__ import annotations

import ast

Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
# A name's binding in a scope: a def or class statement, the dotted name of
# an import ("pytest", "pytest.mark"), or another node that assigns the name.
Binding = ast.AST | str
Bindings = dict[str, list[Binding]]
# Classes inherit from classes in the same file at most this deep.
MAX_BASE_DEPTH = 20


def async_test_functions(file_name: str, source: str) -> frozenset[str]:
    """Return the node ids, without parametrize ids, of the async functions in a file.

    A function counts when it is an `async def` at the top level or in a
    class, nested classes and base classes from the same file included.
    Its decorators and its classes' decorators must all be pytest marks, and
    each scope must bind the function's or class's name only once. Another
    decorator, a metaclass or a second binding could give pytest a sync
    function under that name. The result also names functions that
    pytest does not collect, and matching it with the report picks the tests.
    """
    try:
        tree = ast.parse(source)
        module = _scope_bindings(tree.body)
        assigned_attributes = {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load)
        }
        for node in ast.walk(tree):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                for name in node.names:
                    module.setdefault(name, []).append(node)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # pytest reports a file it cannot import, so here it has no async test.
        return frozenset()
    reader = _AsyncTestReader(module, assigned_attributes)
    reader.add_scope(module, [module], f"{file_name}::", depth=0)
    return frozenset(reader.found)


def is_node_of(node_id: str, function_id: str) -> bool:
    """Tell whether a report's node id belongs to the test function `function_id`.

    A parametrized test's node id adds its parametrize id in brackets, and
    no function or class name contains "[".
    """
    return node_id == function_id or node_id.startswith(f"{function_id}[")


def uses_name_in_code(source: str, name: str) -> bool:
    """Tell whether code in `source`, not a comment, string or import, uses `name`.

    A use is the name itself (`ASGITransport(app=app)`) or an attribute of
    that name (`httpx.ASGITransport(app=app)`).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return any(
        (isinstance(node, ast.Name) and node.id == name)
        or (isinstance(node, ast.Attribute) and node.attr == name)
        for node in ast.walk(tree)
    )


class _AsyncTestReader:
    """Collects the node ids of one file's async test functions."""

    def __init__(self, module: Bindings, assigned_attributes: set[str]) -> None:
        self.module = module
        self.assigned_attributes = assigned_attributes
        self.found: set[str] = set()

    def add_scope(
        self, bindings: Bindings, scopes: list[Bindings], prefix: str, depth: int
    ) -> None:
        """Add the async functions of one scope, then those of its classes.

        `scopes` lists the scopes a decorator here reads names from, this
        one first and the module last.
        """
        if depth > MAX_BASE_DEPTH:
            return
        for name in bindings:
            definition = self.definition(bindings, name)
            if definition is None or not self.only_marks(definition, scopes):
                continue
            if isinstance(definition, ast.AsyncFunctionDef):
                self.found.add(prefix + name)
            elif isinstance(definition, ast.ClassDef) and not definition.keywords:
                members = self.class_members(definition, depth)
                self.add_scope(
                    members, [members, *scopes], f"{prefix}{name}::", depth + 1
                )

    def definition(self, bindings: Bindings, name: str) -> Definition | None:
        """Return the def or class statement that is the only binding of `name`."""
        found = bindings.get(name, [])
        if len(found) != 1 or name in self.assigned_attributes:
            return None
        statement = found[0]
        return statement if isinstance(statement, Definition) else None

    def class_members(self, node: ast.ClassDef, depth: int) -> Bindings:
        """Return a class's own bindings over those of its bases in this file.

        A base the file does not define adds nothing, so a method that only
        such a base defines does not count.
        """
        members: Bindings = {}
        if depth > MAX_BASE_DEPTH:
            return members
        for base in reversed(node.bases):
            if not isinstance(base, ast.Name):
                continue
            base_class = self.definition(self.module, base.id)
            if isinstance(base_class, ast.ClassDef):
                members.update(self.class_members(base_class, depth + 1))
        members.update(_scope_bindings(node.body))
        return members

    def only_marks(self, node: Definition, scopes: list[Bindings]) -> bool:
        return all(self.is_pytest_mark(item, scopes) for item in node.decorator_list)

    def is_pytest_mark(self, decorator: ast.expr, scopes: list[Bindings]) -> bool:
        """Tell whether a decorator is `pytest.mark.NAME` or `mark.NAME`, called or not.

        `pytest` must be bound only by `import pytest`, and `mark` only by
        `from pytest import mark`, in the module and in no class around.
        """
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if not isinstance(target, ast.Attribute):
            return False
        if target.attr in self.assigned_attributes:
            return False
        owner = target.value
        if isinstance(owner, ast.Attribute) and owner.attr == "mark":
            root, expected = owner.value, "pytest"
        elif isinstance(owner, ast.Name):
            root, expected = owner, "pytest.mark"
        else:
            return False
        if not isinstance(root, ast.Name) or "mark" in self.assigned_attributes:
            return False
        if any(root.id in scope for scope in scopes[:-1]):
            return False
        return self.module.get(root.id) == [expected]


def _scope_bindings(body: list[ast.stmt]) -> Bindings:
    """Return what binds each name in one scope's statements.

    The bodies of nested functions and classes are their own scopes, so
    only their names count here, with their decorators, bases and default
    values. Names that comprehensions and lambdas bind count here too,
    which can only make a name look bound more than once.
    """
    bindings: Bindings = {}
    pending: list[ast.AST] = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bindings.setdefault(node.name, []).append(node)
            pending += [*node.decorator_list, node.args]
            continue
        if isinstance(node, ast.ClassDef):
            bindings.setdefault(node.name, []).append(node)
            pending += [*node.decorator_list, *node.bases, *node.keywords]
            continue
        for name, binding in _bound_names(node):
            bindings.setdefault(name, []).append(binding)
        pending.extend(ast.iter_child_nodes(node))
    return bindings


def _bound_names(node: ast.AST) -> list[tuple[str, Binding]]:
    """Return the names that a node other than a def or class binds, with how."""
    if isinstance(node, ast.Import):
        names: list[tuple[str, Binding]] = []
        for alias in node.names:
            if alias.asname:
                names.append((alias.asname, alias.name))
            else:
                # `import pytest.foo` binds the name pytest to the package.
                package = alias.name.split(".")[0]
                names.append((package, package))
        return names
    if isinstance(node, ast.ImportFrom):
        module = "." * node.level + (node.module or "")
        return [
            (alias.asname or alias.name, f"{module}.{alias.name}")
            for alias in node.names
        ]
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return [(node.id, node)]
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
        return [(node.name, node)]
    if isinstance(node, ast.MatchMapping) and node.rest:
        return [(node.rest, node)]
    return []
