"""Find code in a learner's chapter 10 tests that inspects the app instead of using it.

Chapter 10 scores a test file by the faulty versions of main.py it catches.
A test that compares the loaded app's code, frames or source with the
original could "catch" every version without sending one request, so the
grader reads each test file first (it never runs it) and refuses these:

- imports of modules other than the ones tests of a web API use (random and
  time are left out: a test that passes or fails by chance tests nothing),
  and the clocks, hash(), id() and uuid4() that the allowed ones still offer;
- the builtins that run, compile or open code, or reach attributes by name,
  and pytest's temporary folders and the Path methods that read or write
  files;
- names and attributes that lead to code, frames, tracebacks, modules or
  annotation evaluation (anything starting with `_`, `f_`, `co_`, `tb_`,
  `gi_`, `cr_` or `ag_`, and a list of module and function names);
- strings that read attributes when formatted ("{0.attr}"), strings that
  name attributes of code or frames ("co_code") or pydantic settings that
  read attributes by name ("from_attributes"), and string annotations,
  which are checked as code;
- a new value for any attribute (`x.name = ...`, `del x.name`), and pytest's
  monkeypatch, which swap what only some versions of the app read;
- functools' update_wrapper and wraps, which copy attributes by name, and
  classes made with type() or make_dataclass() or given special methods,
  which can read them through class patterns, as can any positional
  sub-pattern of a class other than a built-in type, and chr(), which
  builds the names the other rules refuse;
- functions of main.py other than the dependencies and the lifespan, taken
  with `from main import` or `main.`: a test calls the endpoints through a
  client, and calling them as functions would read how they are written;
- Pydantic models of the test's own: classes built on BaseModel, RootModel
  or a model of main.py under any name, a class attribute Config, class
  fields named after the routes or main's functions, model_config, and
  keyword arguments passed with ** from anything but a dict literal with
  string keys. A model with from_attributes, spelled at run time, reads
  its fields from any object, the app's routes included;
- the names that import or run code from a string, in pydantic
  (ImportString, its v1 import_string and PyObject), anyio and asyncio
  (processes, also through the event loop's subprocess_exec and
  subprocess_shell, and anyio's files and Path), the .open of any object,
  Starlette's FileResponse and StaticFiles, and strings, f-strings of
  literals included, that start with /proc;
- pytest's plugin machinery: any name or string starting with `pytest_`
  (pytest_plugins loads a module as a plugin, and a plugin's pytest_* hooks
  can rewrite the outcome pytest reports), and the names that reach the
  plugin manager, the test item or hook decorators at run time.

NOTE: Python has no boundary inside a process, so a determined test can
still find a way this list misses; the list makes inspection deliberate.
"""

from __future__ import annotations

import ast
import re
import string
from dataclasses import dataclass

from apigrade.checks import is_utf8

ALLOWED_MODULES = frozenset(
    {
        "__future__",
        "anyio",
        "asyncio",
        "collections",
        "contextlib",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "fastapi",
        "functools",
        "httpx",
        "itertools",
        "json",
        "main",
        "math",
        "pytest",
        "pytest_asyncio",
        "re",
        "starlette",
        "typing",
        "typing_extensions",
        "uuid",
    }
)
BLOCKED_BUILTINS = frozenset(
    {
        "__import__",
        # Their values change from run to run, as a random number's would.
        "hash",
        "id",
        "breakpoint",
        "compile",
        "delattr",
        "eval",
        "exec",
        "dir",
        "getattr",
        "globals",
        "help",
        "input",
        "locals",
        "memoryview",
        "open",
        "setattr",
        "vars",
    }
)
BLOCKED_PREFIXES = ("_", "f_", "co_", "tb_", "gi_", "cr_", "ag_")
# Names that reach modules, frames, code or an evaluator from an allowed
# module's attributes (typing.sys, asyncio.coroutines.inspect, ...).
# Clocks and random sources: a test whose result depends on them passes or
# fails by chance, and a fail by chance would count as a caught fault.
# The allowed modules reach clocks under other names too: anyio's
# current_time, current_effective_deadline and a cancel scope's deadline,
# asyncio's Timeout.when() and TimerHandle.when(), httpx's Response.elapsed,
# starlette.responses.formatdate, and the cookie expiry dates that
# Response.set_cookie and http.cookies compute from the current time.
CHANCE_NAMES = frozenset(
    {
        "Morsel",
        "SimpleCookie",
        "clock_gettime",
        "clock_gettime_ns",
        "current_effective_deadline",
        "current_time",
        "deadline",
        "elapsed",
        "formatdate",
        "getnode",
        "getrandbits",
        "monotonic",
        "monotonic_ns",
        "now",
        "perf_counter",
        "perf_counter_ns",
        "process_time",
        "process_time_ns",
        "set_cookie",
        "thread_time",
        "thread_time_ns",
        "time",
        "time_ns",
        "today",
        "urandom",
        "utcnow",
        "uuid1",
        "uuid4",
        "when",
    }
)
BLOCKED_NAMES = CHANCE_NAMES | frozenset(
    {
        "AliasChoices",
        "AliasPath",
        "alias_generator",
        "ForwardRef",
        "TypeAdapter",
        "WRAPPER_ASSIGNMENTS",
        "WRAPPER_UPDATES",
        "alias",
        "attrgetter",
        "ast",
        "builtins",
        "chr",
        "code",
        "codeop",
        "create_model",
        "create_subprocess_exec",
        "create_subprocess_shell",
        "subprocess_exec",
        "subprocess_shell",
        "namedtuple",
        "register",
        "open_file",
        "wrap_file",
        # Starlette's responses and static files read any file they are given.
        "FileResponse",
        "StaticFiles",
        "ctypes",
        "open_process",
        "dis",
        "eval_type",
        "format_map",
        "frame",
        "from_attributes",
        "getrepr",
        "hook",
        "hookimpl",
        "hookspec",
        "hookwrapper",
        "ihook",
        "gc",
        "get_type_hints",
        "importlib",
        "import_string",
        "ImportString",
        "importorskip",
        "inspect",
        "io",
        "iterdir",
        "jsonable_encoder",
        "encoders",
        "linecache",
        # A pytest traceback entry's local variables.
        "locals",
        "make_dataclass",
        # A Pydantic model's options, from_attributes among them.
        "model_config",
        # pytest's fixture and class that set attributes and items by name,
        # the request's way to any fixture by its name, and the py.path of
        # the test file, which reads and lists files.
        "monkeypatch",
        "MonkeyPatch",
        "getfixturevalue",
        "fspath",
        "marshal",
        "modules",
        "node",
        "operator",
        "os",
        "pathlib",
        "pickle",
        "pkgutil",
        "PyObject",
        "pluginmanager",
        "pytestconfig",
        "read_bytes",
        "read_text",
        "run_process",
        "runpy",
        "session",
        "serialization_alias",
        "shutil",
        "stack",
        "stash",
        "subprocess",
        "to_process",
        "v1",
        "sys",
        "tb",
        "tmp_path",
        "tmp_path_factory",
        "tmpdir",
        "tmpdir_factory",
        "traceback",
        "types",
        "update_wrapper",
        "validation_alias",
        "weakref",
        "wrapper",
        "wraps",
        "write_bytes",
        "write_text",
    }
)
# Attributes that open files past the open builtin: anyio's Path and .open.
# Path is rejected when imported from anyio too, but fastapi's Path is allowed.
FILE_ATTRIBUTES = frozenset({"Path", "open"})
# Attributes, and the strings that read them from a scope, that lead from the
# app to its endpoint functions. Ordinary variables may have these names. A
# request's .scope is among them, since Starlette's routing puts the endpoint
# in it, under a key a test could spell at run time.
ROUTE_ATTRIBUTES = frozenset({"endpoint", "route", "routes", "router", "scope"})
# Prefixes of the attributes of code objects, frames, tracebacks, generators
# and coroutines: a string that names one is meant to reach it by name.
ATTRIBUTE_PREFIXES = ("f_", "co_", "tb_", "gi_", "cr_", "ag_")
# The built-in types whose class pattern takes one positional sub-pattern for
# the value itself (PEP 634), not for an attribute.
SELF_MATCHING_TYPES = frozenset(
    {
        "bool",
        "bytearray",
        "bytes",
        "dict",
        "float",
        "frozenset",
        "int",
        "list",
        "set",
        "str",
        "tuple",
    }
)
DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
# pytest treats names with this prefix as plugin lists and hooks. The one
# allowed module that has it, pytest_asyncio, is a name the tests need.
PYTEST_PREFIX = "pytest_"
PYTEST_MODULE_ALLOWED = "pytest_asyncio"
# The settings and arguments that read attributes by a name given as a string
# (pydantic's from_attributes, an alias), so written as dictionary keys too.
BLOCKED_STRINGS = frozenset(
    {
        "alias",
        "alias_generator",
        "from_attributes",
        "model_config",
        "serialization_alias",
        "validation_alias",
    }
)
# The classes a Pydantic model is built on. main.py imports BaseModel, and
# fastapi.openapi.models imports it too, so a test can take it from either.
PYDANTIC_MODEL_BASES = frozenset({"BaseModel", "RootModel"})
# The class attribute that sets a Pydantic model's options in place of
# model_config, as a class or a dict.
MODEL_CONFIG_CLASS = "Config"


# A coding declaration (PEP 263), which Python obeys on the first two lines.
# The audit reads a file as UTF-8, so one naming another codec would make
# Python run code the audit never saw (unicode_escape turns \u000a in a
# comment into a new line).
CODING_LINE = re.compile(r"[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


@dataclass(frozen=True)
class Finding:
    """A construct the grader refuses, where it is, and why."""

    line: int
    what: str


def main_functions(reference: str) -> frozenset[str]:
    """Return the functions of the app's source that tests may not take from main.

    Those are its module-level functions other than the lifespan and the
    dependencies, which tests pass to dependency_overrides: the endpoints
    and their helpers.
    """
    tree = ast.parse(reference)
    functions = {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    used_by_app = {
        argument.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("Depends", "FastAPI")
        for argument in [*node.args, *(keyword.value for keyword in node.keywords)]
        if isinstance(argument, ast.Name)
    }
    return frozenset(functions - used_by_app)


def main_models(reference: str) -> frozenset[str]:
    """Return the Pydantic models of the app's source, which tests may not subclass.

    A subclass could add fields named after the app's attributes and read
    them from any object with from_attributes, spelled at run time.
    """
    tree = ast.parse(reference)
    models = {"BaseModel"}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            isinstance(base, ast.Name) and base.id in models for base in node.bases
        ):
            models.add(node.name)
    return frozenset(models - {"BaseModel"})


def audit_source(
    source: str,
    main_only: frozenset[str] = frozenset(),
    models: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Return the constructs in a test file's source that inspect rather than test.

    `main_only` names the functions of main.py a test may not use
    (main_functions), and `models` its Pydantic models (main_models). A file
    that does not parse returns no finding: pytest reports the syntax error
    itself.
    """
    findings: list[Finding] = [
        Finding(number, f"coding declaration {match.group(1)}")
        for number, line in enumerate(source.splitlines()[:2], start=1)
        if (match := CODING_LINE.match(line)) and not is_utf8(match.group(1))
    ]
    try:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            findings += _audit_node(node)
    except (SyntaxError, ValueError):
        return findings
    except (RecursionError, MemoryError):
        # Python itself could not read the file: refuse it rather than run it.
        return [Finding(0, "code nested too deeply for Python to read")]
    findings += _audit_main_names(tree, main_only)
    findings += _audit_model_classes(tree, models)
    findings += _audit_class_attributes(tree, main_only)
    findings += _audit_keyword_unpacking(tree)
    return sorted(set(findings), key=lambda finding: (finding.line, finding.what))


def _audit_model_classes(tree: ast.AST, models: frozenset[str]) -> list[Finding]:
    """Find the classes built on one of main's models or on BaseModel or RootModel.

    A test's own model could declare fields named after the app's attributes
    and read them from any object once from_attributes is on. A base counts
    under any name a test gives it with `import ... as` or an assignment.
    """
    model_names = _model_aliases(tree, models | PYDANTIC_MODEL_BASES)
    findings = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for base in (_base_name(item) for item in node.bases):
            if base is None or base not in model_names:
                continue
            original = model_names[base]
            base_label = base if base == original else f"{base} ({original})"
            if original in models:
                what = f"class {node.name}, a subclass of main's model {base_label}"
            else:
                what = (
                    f"class {node.name}, a new Pydantic model based on {base_label}, "
                    "which could read the app's attributes"
                )
            findings.append(Finding(node.lineno, what))
    return findings


def _model_aliases(tree: ast.AST, models: frozenset[str]) -> dict[str, str]:
    """Map each name of a model class in the file to the model it names.

    `from main import Task as T` and `T = Task` make T a name for Task.
    """
    names = {model: model for model in models}
    assignments = [
        (target.id, node.value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and node.value is not None
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.update(
                (alias.asname, alias.name)
                for alias in node.names
                if alias.asname and alias.name in models
            )
    # Each pass adds the names assigned from a name found in an earlier pass,
    # so as many passes as assignments follow the longest chain.
    for _ in range(len(assignments)):
        added = {
            name: names[value]
            for name, expression in assignments
            if name not in names
            and (value := _base_name(expression)) is not None
            and value in names
        }
        if not added:
            break
        names.update(added)
    return names


def _base_name(node: ast.expr) -> str | None:
    """Return the class name a base names, as in Model, main.Model or Model[int]."""
    if isinstance(node, ast.Subscript):
        return _base_name(node.value)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _audit_class_attributes(tree: ast.AST, main_only: frozenset[str]) -> list[Finding]:
    """Find the class attributes through which a Pydantic model reads the app.

    With from_attributes, a model reads each annotated field from the
    attribute of the same name, so a class may not annotate the names that
    lead to the endpoints (ordinary variables may have them). Config sets a
    model's options, such as from_attributes, even in a model whose base the
    audit does not know, so a class may not bind it at all.
    """
    findings = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for inner in _class_scope(node):
            line = getattr(inner, "lineno", node.lineno)
            if MODEL_CONFIG_CLASS in _bound_names(inner):
                findings.append(
                    Finding(
                        line,
                        "the class attribute Config, which sets a Pydantic "
                        "model's options",
                    )
                )
            if not (
                isinstance(inner, ast.AnnAssign) and isinstance(inner.target, ast.Name)
            ):
                continue
            field = inner.target.id
            if field in ROUTE_ATTRIBUTES:
                findings.append(
                    Finding(
                        line,
                        f"the class field {field}, which a Pydantic model would "
                        "read from the app's routes",
                    )
                )
            elif field in main_only:
                findings.append(
                    Finding(
                        line,
                        f"the class field {field}, which a Pydantic model would "
                        "read from main, a function only the app calls",
                    )
                )
    return findings


def _class_scope(node: ast.ClassDef) -> list[ast.AST]:
    """Return the nodes in a class body that bind names in the class's scope.

    Functions, lambdas, nested classes and comprehensions have scopes of their
    own: their definitions bind a name in the class, their bodies do not.
    """
    own_scopes = (
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.ClassDef,
        ast.Lambda,
        ast.ListComp,
        ast.SetComp,
        ast.DictComp,
        ast.GeneratorExp,
    )
    found: list[ast.AST] = []
    pending: list[ast.AST] = list(node.body)
    while pending:
        inner = pending.pop()
        found.append(inner)
        if not isinstance(inner, own_scopes):
            pending.extend(ast.iter_child_nodes(inner))
    return found


def _audit_keyword_unpacking(tree: ast.AST) -> list[Finding]:
    """Find keyword arguments passed with ** from anything but a literal dict.

    The keys of `**{name: True}` or `**settings` are spelled at run time, so
    they could set a Pydantic option the audit rejects by name, such as
    from_attributes or alias, in a call or a class statement.
    """
    findings = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Call, ast.ClassDef)):
            continue
        for keyword in node.keywords:
            if keyword.arg is None and not _literal_keys(keyword.value):
                findings.append(
                    Finding(
                        keyword.lineno,
                        "keyword arguments passed with ** from a value other than "
                        "a dict literal with string keys, which could set a "
                        "Pydantic option such as from_attributes",
                    )
                )
    return findings


def _literal_keys(node: ast.expr) -> bool:
    """Tell whether `node` is a dict literal whose keys are all string literals."""
    return isinstance(node, ast.Dict) and all(
        isinstance(key, ast.Constant) and isinstance(key.value, str)
        for key in node.keys
    )


def _audit_main_names(tree: ast.AST, main_only: frozenset[str]) -> list[Finding]:
    """Find the functions of `main_only` taken from the module main.

    An attribute or a class pattern's keyword with one of those names counts
    on any object, since the module main can reach a test under other names.
    """
    findings = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom) and node.module == "main":
            findings += [
                Finding(
                    line, f"from main import {alias.name}, which only the app calls"
                )
                for alias in node.names
                if alias.name in main_only or alias.name == "*"
            ]
        if isinstance(node, ast.Attribute) and node.attr in main_only:
            findings.append(
                Finding(line, f".{node.attr}, a function of main only the app calls")
            )
        if isinstance(node, ast.MatchClass):
            findings += [
                Finding(
                    line,
                    f"the attribute .{name} in a class pattern, a function of main "
                    "only the app calls",
                )
                for name in node.kwd_attrs
                if name in main_only
            ]
    return findings


def _audit_node(node: ast.AST) -> list[Finding]:
    line = getattr(node, "lineno", 0)
    if isinstance(node, ast.Import):
        return [
            Finding(line, f"import {alias.name}")
            for alias in node.names
            if alias.name.split(".")[0] not in ALLOWED_MODULES
        ]
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if node.level or module.split(".")[0] not in ALLOWED_MODULES:
            return [Finding(line, f"from {'.' * node.level}{module} import ...")]
        return [
            Finding(line, f"from {module} import {alias.name}")
            for alias in node.names
            if _blocked_name(alias.name)
            or (module.split(".")[0] == "anyio" and alias.name in FILE_ATTRIBUTES)
        ]
    rebound = _rebound_builtin(node)
    if rebound is not None:
        # `int = Reader; case int(x):` would pass the class-pattern rule below,
        # which trusts the built-in types to match only themselves.
        return [Finding(line, f"a new value for the built-in name {rebound}")]
    if isinstance(node, ast.Name) and (
        node.id in BLOCKED_BUILTINS or _blocked_name(node.id)
    ):
        return [Finding(line, f"the name {node.id}")]
    # `module.name = trap` swaps what only some versions of the app read, such
    # as a name a faulty version imports at run time. The test then fails by
    # which code ran, not by the responses of the app.
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [Finding(line, f"a new value for the attribute .{node.attr}")]
    if isinstance(node, ast.Attribute) and (
        _blocked_name(node.attr)
        or node.attr in ROUTE_ATTRIBUTES
        or node.attr in FILE_ATTRIBUTES
    ):
        return [Finding(line, f"the attribute .{node.attr}")]
    # `case object(__code__=code)` reads an attribute as a match pattern does,
    # and `case M(code)` reads the attributes M.__match_args__ names, which a
    # class made at run time can set to any name.
    if isinstance(node, ast.MatchClass):
        findings = [
            Finding(line, f"the attribute .{name} in a class pattern")
            for name in node.kwd_attrs
            if _blocked_name(name) or name in ROUTE_ATTRIBUTES
        ]
        matches_itself = (
            isinstance(node.cls, ast.Name) and node.cls.id in SELF_MATCHING_TYPES
        )
        if node.patterns and not matches_itself:
            findings.append(
                Finding(line, "a class pattern with positional sub-patterns")
            )
        return findings
    # type(name, bases, namespace) makes a class from strings, which can
    # set __match_args__ or __instancecheck__ to reach attributes by name.
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "type"
        and len(node.args) + len(node.keywords) > 1
    ):
        return [
            Finding(line, "type() with more than one argument, which makes a class")
        ]
    if (
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("__")
        and node.name != "__init__"
    ):
        return [Finding(line, f"the special method {node.name}")]
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    if isinstance(node, definitions) and _pytest_hook_name(node.name):
        return [Finding(line, f"the pytest hook {node.name}")]
    if isinstance(node, ast.alias) and node.asname and _blocked_name(node.asname):
        return [Finding(line, f"the name {node.asname}")]
    # A fixture gets pytest's objects through parameters named after them.
    if isinstance(node, ast.arg) and _blocked_name(node.arg):
        return [Finding(line, f"the parameter {node.arg}")]
    if isinstance(node, ast.keyword) and node.arg and _blocked_name(node.arg):
        return [Finding(line, f"the keyword argument {node.arg}=")]
    if (
        isinstance(node, ast.Attribute)
        and node.attr == "format"
        and not _plain_format_call(node)
    ):
        return [Finding(line, ".format on a string built at run time")]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _audit_string(node.value, line)
    # "c" + "o_code" is a blocked string too, once Python joins it.
    joined = _joined_string(node)
    if joined is not None:
        return _audit_string(joined, line)
    for annotation in _string_annotations(node):
        return [
            Finding(line, f"in the string annotation: {finding.what}")
            for finding in _audit_expression(annotation)
        ]
    return []


def _rebound_builtin(node: ast.AST) -> str | None:
    """Return the built-in type name that `node` binds anew, if it binds one."""
    return next(
        (name for name in _bound_names(node) if name in SELF_MATCHING_TYPES), None
    )


def _bound_names(node: ast.AST) -> list[str | None]:
    """Return the names that `node` itself binds, None where a binding is optional."""
    names: list[str | None] = []
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        names = [node.id]
    elif isinstance(node, ast.arg):
        names = [node.arg]
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names = [node.name]
    elif isinstance(node, ast.alias):
        names = [node.asname or node.name.partition(".")[0]]
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
        names = list(node.names)
    elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        names = [node.name]
    elif isinstance(node, ast.MatchMapping):
        names = [node.rest]
    return names


def _blocked_name(name: str) -> bool:
    if name == "_":  # the usual name for a value left unused
        return False
    return (
        name.startswith(BLOCKED_PREFIXES)
        or name in BLOCKED_NAMES
        or _pytest_hook_name(name)
    )


def _pytest_hook_name(name: str) -> bool:
    """Tell whether pytest could read `name` as a plugin list or a hook."""
    return name.startswith(PYTEST_PREFIX) and name != PYTEST_MODULE_ALLOWED


def _joined_string(node: ast.AST) -> str | None:
    """Return the string that + of string literals makes, or None for other code.

    An f-string counts when every part of it is such a string, as in
    f"/{'proc'}/self".
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = [_joined_string(part) for part in node.values]
        if all(part is not None for part in parts):
            return "".join(part for part in parts if part is not None)
        return None
    if (
        isinstance(node, ast.FormattedValue)
        and node.conversion == -1
        and node.format_spec is None
    ):
        return _joined_string(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _joined_string(node.left), _joined_string(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _plain_format_call(node: ast.Attribute) -> bool:
    """Return True for "literal".format(...), whose fields _audit_string checks."""
    return isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _audit_string(text: str, line: int) -> list[Finding]:
    if "__" in text:
        return [Finding(line, f"a string containing '__': {text[:40]!r}")]
    if text.lstrip().startswith("/proc"):
        return [
            Finding(
                line, f"the path {text[:40]!r}, which reads the process's own state"
            )
        ]
    if (
        text in BLOCKED_STRINGS
        or text in ROUTE_ATTRIBUTES
        or (text.isidentifier() and text.startswith(ATTRIBUTE_PREFIXES))
    ):
        return [Finding(line, f"the string {text!r}, which names an attribute")]
    if _pytest_hook_name(text.partition(".")[0]):
        return [Finding(line, f"the string {text[:40]!r}, which names a pytest hook")]
    # "operator.attrgetter": a dotted name under a refused one, for anything
    # that imports from a string.
    if DOTTED_NAME.fullmatch(text) and _blocked_name(text.partition(".")[0]):
        return [Finding(line, f"the string {text[:40]!r}, which names a module")]
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(text)]
    except ValueError:
        return []
    if any(field and ("." in field or "[" in field) for field in fields):
        return [Finding(line, f"a format field that reads attributes: {text[:40]!r}")]
    return []


def _string_annotations(node: ast.AST) -> list[str]:
    annotations: list[ast.expr | None] = []
    if isinstance(node, ast.arg):
        annotations.append(node.annotation)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        annotations.append(node.returns)
    elif isinstance(node, ast.AnnAssign):
        annotations.append(node.annotation)
    return [
        annotation.value
        for annotation in annotations
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str)
    ]


def _audit_expression(text: str) -> list[Finding]:
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):
        return []
    return [finding for node in ast.walk(tree) for finding in _audit_node(node)]
