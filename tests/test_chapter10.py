"""Chapter 10's defences: the test-file audit, and runs that cannot see each other.

The calibration mutants show the audit refusing whole files. These tests pin
down single constructs, and run the grader's job runner directly with test
files the audit would refuse, to show that the sandbox alone also keeps each
run from learning which version of the app it tests.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import uuid
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from apigrade.sandbox import BUBBLEWRAP, LANDLOCK, bubblewrap_works, landlock_works
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "graders"))
audit = importlib.import_module("chapter10_audit")
async_reading = importlib.import_module("chapter10_async")

ALLOWED = [
    "from fastapi.testclient import TestClient\nfrom main import app\n",
    "import uuid\nuuid.UUID('12345678123456781234567812345678')\n",
    "from datetime import date\nstart = date(2024, 1, 1)\n",
    "import pytest\nfor _ in range(3):\n    pass\n",
    "x = f'{1 + 1}'\ny = '{} and {name}'.format(1, name=2)\n",
    "def f(client: 'TestClient') -> None:\n    pass\n",
    "# -*- coding: utf-8 -*-\nimport pytest\n",
    "import pytest_asyncio\n\n@pytest_asyncio.fixture\nasync def client():\n    pass\n",
    "from pytest_asyncio import fixture\n",
    "from main import User, app, get_current_user, get_store, lifespan\n",
    "import main\nmain.app.dependency_overrides[main.get_current_user] = dict\n",
    "endpoint = '/tasks/'\nroutes = [endpoint]\n",
    "match body:\n    case {'id': int(n)}:\n        pass\n",
    "match body:\n    case dict(d):\n        pass\n",
    "email = 'ada@example.com'\nsite = 'example.com'\nurl = 'http://' + site\n",
    # UUID(int=...) only converts the number it is given, so it adds no chance.
    "import uuid\nassert uuid.UUID(int=1).hex.endswith('1')\n",
    "from fastapi import Path\n",
    "app.dependency_overrides[get_current_user] = lambda: User(name='ada')\n",
    "main.DEMO_TOKENS['carol-token'] = 'carol'\n",
    "item = 3\nurl = f'/items/{item}'\nname = f\"{'ada'}\"\n",
    "from main import BaseModel, app\nassert isinstance(app, BaseModel) is False\n",
    "client.post('/tasks/', **{'json': {'title': 'a'}})\n",
    "endpoint: str = '/tasks/'\n",
    "class TestTasks:\n    def test_a(self, endpoint):\n        pass\n",
    "class TestTasks:\n    def list_tasks(self, client):\n        pass\n",
]
REFUSED = [
    # A tester's bypass: update_wrapper copies __code__ onto a plain object,
    # then a pydantic model with from_attributes reads co_code through an alias.
    ("from functools import update_wrapper\n", "from functools import update_wrapper"),
    ("import functools\nfunctools.update_wrapper(box, f)\n", ".update_wrapper"),
    ("ConfigDict(from_attributes=True)\n", "the keyword argument from_attributes="),
    ("config = {'from_attributes': True}\n", "the string 'from_attributes'"),
    ("x = 'co_' + 'code'\nField(validation_alias=x)\n", "validation_alias="),
    ("names = ('co_code', 'co_consts')\n", "the string 'co_code'"),
    # Another: a class made by type() from joined strings, matched with a
    # positional class pattern that reads __code__.
    ("View = type('View', (), {})\n", "type() with more than one argument"),
    (
        "class M(type):\n    def __instancecheck__(cls, x):\n        return True\n",
        "the special method __instancecheck__",
    ),
    ("import inspect\n", "import inspect"),
    ("import random\n", "import random"),
    ("from os import path\n", "from os import ..."),
    ("from . import main\n", "from . import ..."),
    ("import main\nmain.create.__code__\n", "the attribute .__code__"),
    ("eval('1')\n", "the name eval"),
    ("open('main.py')\n", "the name open"),
    ("getattr(object, 'x')\n", "the name getattr"),
    ("import asyncio\nasyncio.coroutines.inspect\n", "the attribute .inspect"),
    ("import typing\ntyping.sys\n", "the attribute .sys"),
    ("from typing import get_type_hints\n", "from typing import get_type_hints"),
    ("e = None\ne.tb.tb_frame.f_back\n", "the attribute .tb_frame"),
    ("'{0.tb}'.format(x)\n", "a format field that reads attributes"),
    ("template = 'x'\ntemplate.format(1)\n", ".format on a string built at run time"),
    ("key = 'a__b'\n", "a string containing '__'"),
    ("def f(x: 'open(\"main.py\")') -> None:\n    pass\n", "the name open"),
    ("import pytest\npytest.importorskip('os')\n", "the attribute .importorskip"),
    (
        "from main import app\nmatch app:\n    case object(__code__=code):\n"
        "        pass\n",
        "the attribute .__code__ in a class pattern",
    ),
    ("dict(__wrapped__=1)\n", "the keyword argument __wrapped__="),
    # A tester's bypass: Python decodes the file with unicode_escape, so
    # \u000a in a comment starts a line of code the audit read as a comment.
    (
        "# -*- coding: unicode_escape -*-\n# x\\u000aimport inspect\n",
        "coding declaration unicode_escape",
    ),
    ("#!/usr/bin/env python\n# vim: fileencoding=latin-1\n", "coding declaration"),
    # A tester's bypass: a test file loads a file of its own as a plugin, whose
    # hookwrapper rewrites failed reports to passed.
    ("pytest_plugins = ['test_hooks']\n", "the name pytest_plugins"),
    ("def pytest_runtest_makereport(item, call):\n    pass\n", "the pytest hook"),
    (
        "import pytest\n@pytest.hookimpl(wrapper=True)\ndef f():\n    pass\n",
        ".hookimpl",
    ),
    ("from pytest import hookimpl\n", "from pytest import hookimpl"),
    ("x = {'pytest_plugins': ['test_hooks']}\n", "which names a pytest hook"),
    ("class P:\n    pytest_runtest_logreport = print\n", "pytest_runtest_logreport"),
    ("import json as pytest_plugins\n", "the name pytest_plugins"),
    ("def test_a(request):\n    request.node.add_marker(1)\n", "the attribute .node"),
    ("def test_a(request):\n    request.config.pluginmanager\n", ".pluginmanager"),
    ("def test_a(pytestconfig):\n    pass\n", "pytestconfig"),
    ("def test_a(request):\n    request.session.items\n", "the attribute .session"),
    # A tester's bypass: endpoints called as functions with None raise in
    # main.py, and the traceback's line numbers showed which version ran.
    ("def test_a(tmp_path):\n    tmp_path.read_text()\n", "the parameter tmp_path"),
    ("def f(path):\n    path.iterdir()\n", "the attribute .iterdir"),
    # A tester's bypass: a class made by make_dataclass whose __match_args__,
    # spelled with chr(95), names __code__, read by a positional pattern.
    ("match f:\n    case M(code):\n        pass\n", "positional sub-patterns"),
    ("from dataclasses import make_dataclass\n", "make_dataclass"),
    ("u = chr(95) * 2\n", "the name chr"),
    # A tester's bypass: pydantic's ImportString imported operator.attrgetter,
    # which read co_code spelled "c" + "o_code".
    ("from pydantic import ImportString\n", "from pydantic import ..."),
    ("from pydantic.v1.utils import import_string\n", "from pydantic.v1.utils"),
    ("load('operator.attrgetter')\n", "which names a module"),
    ("name = 'c' + 'o_code'\n", "the string 'co_code'"),
    ("import anyio\nanyio.run_process(['cat'])\n", ".run_process"),
    # A shell through the event loop, and files through anyio.
    (
        "loop = asyncio.get_running_loop()\nloop.subprocess_shell(P, 'id')\n",
        ".subprocess_shell",
    ),
    ("loop.subprocess_exec(P, 'id')\n", ".subprocess_exec"),
    ("import anyio\nanyio.open_file('x.txt')\n", ".open_file"),
    ("path = '/proc/self/mem'\n", "the path '/proc/self/mem'"),
    # A /proc path spelled as an f-string, and the file routes past open().
    ("path = f\"/{'proc'}/self/maps\"\n", "the path '/proc/self/maps'"),
    ("import anyio\nanyio.Path('x.txt')\n", "the attribute .Path"),
    ("from anyio import Path\n", "from anyio import Path"),
    ("maps = await folder.open('rb')\n", "the attribute .open"),
    ("from starlette.responses import FileResponse\n", "import FileResponse"),
    ("from fastapi.staticfiles import StaticFiles\n", "import StaticFiles"),
    # Traps that only some versions of the app spring: a library name that a
    # faulty version imports at run time, or a global it reads another way.
    ("fastapi.responses.JSONResponse = Trap\n", "attribute .JSONResponse"),
    ("main.DEMO_TOKENS = TrapTokens(main.DEMO_TOKENS)\n", "attribute .DEMO_TOKENS"),
    ("del main.DEMO_TOKENS\n", "attribute .DEMO_TOKENS"),
    ("for main.x in []:\n    pass\n", "attribute .x"),
    ("def test_a(monkeypatch):\n    pass\n", "the parameter monkeypatch"),
    (
        "patcher = request.getfixturevalue('monkeypatch')\n",
        "the attribute .getfixturevalue",
    ),
    ("text = request.fspath.read()\n", "the attribute .fspath"),
    # A dependency override reads the endpoint from the request's ASGI scope,
    # under a key joined at run time.
    (
        "key = ''.join(['end', 'point'])\nfound = request.scope[key]\n",
        "the attribute .scope",
    ),
    # A reader bound to the name int passed the class-pattern rule,
    # and a namedtuple registered as an ABC matched any object.
    ("int = make_reader()\nmatch x:\n    case int(y): pass\n", "built-in name int"),
    ("def read(value, str):\n    return value\n", "built-in name str"),
    ("import collections as list\n", "built-in name list"),
    ("Fields = collections.namedtuple('F', 'a')\n", ".namedtuple"),
    ("Reader.register(type(x))\n", ".register"),
    ("names = dir(main)\n", "the name dir"),
    ("from main import delete_task\n", "from main import delete_task"),
    ("from main import *\n", "from main import *"),
    ("import main as m\nm.read_stats\n", ".read_stats, a function of main"),
    ("import main as m\nx = m\nx.list_tasks\n", ".list_tasks, a function of main"),
    ("match m:\n    case object(list_tasks=f):\n        pass\n", ".list_tasks in a"),
    # A tester's bypass: class patterns took the routes out of the app, and
    # the endpoint out of each route.
    ("match app:\n    case FastAPI(router=r):\n        pass\n", ".router in a class"),
    (
        "match r:\n    case APIRoute(endpoint=f):\n        pass\n",
        ".endpoint in a class",
    ),
    ("def test_a(e):\n    e.getrepr()\n", "the attribute .getrepr"),
    ("from main import app\napp.routes\n", "the attribute .routes"),
    ("def f(request):\n    request.scope['endpoint']\n", "the string 'endpoint'"),
    # A tester's bypass: pydantic's from_attributes and alias, spelled with
    # "".join at run time, read the routes and their endpoints.
    ("from pydantic import BaseModel\n", "from pydantic import ..."),
    ("import pydantic\n", "import pydantic"),
    ("from main import Task\nclass R(Task):\n    pass\n", "subclass of main's model"),
    ("import main\nclass R(main.TaskIn):\n    pass\n", "subclass of main's model"),
    ("from fastapi.encoders import jsonable_encoder\n", "jsonable_encoder"),
    # A tester's bypass: models built on main's BaseModel, with fields named
    # router, routes and endpoint and from_attributes joined at run time in
    # model_config, read the endpoint functions out of the app.
    ("from main import BaseModel\nclass V(BaseModel):\n    pass\n", "new Pydantic"),
    ("import main\nclass V(main.BaseModel):\n    pass\n", "new Pydantic model"),
    ("from main import BaseModel as B\nclass V(B):\n    pass\n", "B (BaseModel)"),
    ("B = BaseModel\nC = B\nclass V(C):\n    pass\n", "based on C (BaseModel)"),
    ("class V(RootModel[list[int]]):\n    pass\n", "based on RootModel"),
    ("from main import Task as T\nclass V(T):\n    pass\n", "model T (Task)"),
    ("class V(Info):\n    model_config = {}\n", "the name model_config"),
    ("User.model_config\n", "the attribute .model_config"),
    ("settings = {'model_config': 1}\n", "the string 'model_config'"),
    # The models of fastapi.openapi.models take options from a Config
    # attribute or from class keywords too.
    ("class V(Info):\n    Config: ClassVar = {}\n", "the class attribute Config"),
    ("class V(Info):\n    class Config:\n        pass\n", "class attribute Config"),
    ("class V(Info, **{ON: True}):\n    pass\n", "passed with ** from a value"),
    ("class V(Info, alias_generator=f):\n    pass\n", "alias_generator="),
    ("View.model_validate(app, **{ON: True})\n", "passed with ** from a value"),
    ("View.model_validate(app, **settings)\n", "passed with ** from a value"),
    ("Field(**{''.join(['al', 'ias']): 'x'})\n", "passed with ** from a value"),
    ("class V(Info):\n    routes: list[Any]\n", "the class field routes"),
    ("class V(Info):\n    if True:\n        endpoint: Any\n", "class field endpoint"),
    ("class V(Info):\n    delete_task: Any\n", "the class field delete_task"),
    # The entries of a pytest traceback, and their local variables.
    ("excinfo.traceback[-1].locals\n", "the attribute .traceback"),
    ("entry.locals\n", "the attribute .locals"),
    # A tester's suite failed by chance, through uuid4(), and each chance
    # failure counted as a caught fault.
    ("import uuid\nassert uuid.uuid4().int % 3\n", "the attribute .uuid4"),
    ("from uuid import uuid1\n", "uuid1"),
    ("import time\n", "import time"),
    ("import asyncio\nasyncio.get_running_loop().time()\n", "the attribute .time"),
    ("from datetime import datetime\ndatetime.now()\n", "the attribute .now"),
    ("assert hash('a') % 2\n", "the name hash"),
    ("assert id(object()) % 2\n", "the name id"),
    # A tester's suite scored catches by chance through anyio's clock, which
    # the audit allowed. The other clocks that the allowed modules reach:
    (
        "import anyio\nassert int(anyio.current_time() * 1_000_000) % 2 == 0\n",
        "the attribute .current_time",
    ),
    ("from anyio import current_effective_deadline\n", "current_effective_deadline"),
    ("with anyio.move_on_after(5) as scope:\n    scope.deadline\n", ".deadline"),
    ("async with asyncio.timeout(3) as t:\n    t.when()\n", "the attribute .when"),
    ("assert client.get('/').elapsed.microseconds % 2\n", "the attribute .elapsed"),
    ("from starlette.responses import formatdate\n", "formatdate"),
    ("Response().set_cookie('a', expires=10)\n", "the attribute .set_cookie"),
    ("cookie = cookies.SimpleCookie()\n", "the attribute .SimpleCookie"),
    ("clock.clock_gettime_ns(1)\n", "the attribute .clock_gettime_ns"),
]
MAIN_FUNCTIONS = audit.main_functions(
    (ROOT / "graders" / "10_testing" / "main.py").read_text("utf-8")
)
MAIN_MODELS = audit.main_models(
    (ROOT / "graders" / "10_testing" / "main.py").read_text("utf-8")
)


@pytest.mark.parametrize("source", ALLOWED)
def test_audit_allows_ordinary_tests(source: str) -> None:
    assert audit.audit_source(source, MAIN_FUNCTIONS, MAIN_MODELS) == []


@pytest.mark.parametrize(("source", "what"), REFUSED)
def test_audit_refuses_inspection(source: str, what: str) -> None:
    findings = audit.audit_source(source, MAIN_FUNCTIONS, MAIN_MODELS)

    assert any(what in finding.what for finding in findings), findings


def test_main_models_are_the_pydantic_models() -> None:
    assert {"TaskIn", "Task", "TaskStats", "User"} == MAIN_MODELS


def test_main_functions_are_endpoints_and_helpers() -> None:
    assert "delete_task" in MAIN_FUNCTIONS
    assert "find_own_task" in MAIN_FUNCTIONS
    assert "get_current_user" not in MAIN_FUNCTIONS
    assert "lifespan" not in MAIN_FUNCTIONS


# Test files, each with the node ids that async_test_functions must return.
ASYNC_TESTS = [
    (
        "import pytest\n@pytest.mark.asyncio\nasync def test_a():\n    pass\n",
        {"test_main.py::test_a"},
    ),
    (
        "from pytest import mark\n@mark.asyncio\n@mark.parametrize('x', [1])\n"
        "async def test_a(x):\n    pass\n",
        {"test_main.py::test_a"},
    ),
    # A sync test with the parametrize id "asyncio", as a tester sent it.
    (
        "import pytest\n@pytest.mark.parametrize('mode', ['asyncio'])\n"
        "def test_a(mode):\n    pass\n",
        set(),
    ),
    # Methods, inherited ones and nested classes are named by their classes.
    (
        "import pytest\nclass Base:\n    @pytest.mark.asyncio\n"
        "    async def test_a(self):\n        pass\n"
        "class TestB(Base):\n    class TestC:\n"
        "        async def test_c(self):\n            pass\n",
        {
            "test_main.py::Base::test_a",
            "test_main.py::TestB::test_a",
            "test_main.py::TestB::TestC::test_c",
        },
    ),
    # A decorator that is not a mark could return a sync function.
    (
        "import pytest\ndef run(f):\n    def test():\n        pass\n"
        "    return test\n@run\nasync def test_a():\n    pass\n",
        set(),
    ),
    # A second binding replaces the async function.
    ("async def test_a():\n    pass\ntest_a = 1\n", set()),
    (
        "class TestA:\n    async def test_a(self):\n        pass\nTestA.test_a = 1\n",
        set(),
    ),
    # `pytest` in a class body is not the pytest module.
    (
        "import pytest\nclass TestA:\n    pytest = None\n"
        "    @pytest.mark.asyncio\n    async def test_a(self):\n        pass\n",
        set(),
    ),
    (
        "class TestA(metaclass=type):\n    async def test_a(self):\n        pass\n",
        set(),
    ),
]


@pytest.mark.parametrize(("source", "expected"), ASYNC_TESTS)
def test_async_test_functions(source: str, expected: set[str]) -> None:
    assert async_reading.async_test_functions("test_main.py", source) == expected


def test_async_node_ids_match_parametrized_tests() -> None:
    assert async_reading.is_node_of("t.py::test_a[asyncio]", "t.py::test_a")
    assert async_reading.is_node_of("t.py::test_a", "t.py::test_a")
    assert not async_reading.is_node_of("t.py::test_ab", "t.py::test_a")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from httpx import ASGITransport\nASGITransport(app=app)\n", True),
        ("import httpx\nhttpx.ASGITransport(app=app)\n", True),
        ("# ASGITransport\nnote = 'ASGITransport'\n", False),
        ("from httpx import ASGITransport\n", False),
    ],
)
def test_asgi_transport_use_in_code(source: str, expected: bool) -> None:
    assert async_reading.uses_name_in_code(source, "ASGITransport") is expected


def test_app_mutants_keep_every_line_number() -> None:
    grader = importlib.import_module("test_10_testing")
    reference = grader.REFERENCE_APP.read_text("utf-8").splitlines()
    starts = ("def ", "async def ", "class ")
    definitions = [
        (number, line)
        for number, line in enumerate(reference)
        if line.startswith(starts)
    ]
    for mutant in grader.APP_MUTANT_LIST.values():
        lines = mutant.source.splitlines()
        assert len(lines) == len(reference), mutant.id
        assert [(number, lines[number]) for number, _ in definitions] == definitions


def load_app_version(source: str) -> ModuleType:
    """Run one version of main.py as a fresh module named main, as the runner does."""
    module = ModuleType("main")
    path = ROOT / "graders" / "10_testing" / "main.py"
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


async def fetch_text(module: ModuleType, path: str) -> str:
    """GET `path` from the module's app in memory, without its lifespan."""
    transport = httpx.ASGITransport(app=module.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(path)
    return response.text


def declarations(module: ModuleType) -> dict[str, str]:
    """Return what a test can read about an app without sending it a request.

    JSON text keeps the order of keys, so a test comparing the raw text of
    /openapi.json detects a difference in order too.
    """
    found = {
        "module names": repr(sorted(vars(module))),
        "app.openapi()": json.dumps(module.app.openapi()),
    }
    for path in ("/openapi.json", "/docs"):
        found[f"GET {path}"] = asyncio.run(fetch_text(module, path))
    for name in sorted(MAIN_MODELS):
        model = getattr(module, name)
        for mode in ("validation", "serialization"):
            schema = model.model_json_schema(mode=mode)
            found[f"{name}.model_json_schema({mode})"] = json.dumps(schema)
        found[f"{name}.model_fields"] = repr(model.model_fields)
        found[f"{name}.model_config"] = repr(model.model_config)
        found[f"{name} attribute names"] = repr(dir(model))
    return found


def app_mutant_ids() -> list[str]:
    grader = importlib.import_module("test_10_testing")
    return list(grader.APP_MUTANT_LIST)


@pytest.mark.parametrize("mutant_id", app_mutant_ids())
def test_app_mutants_declare_the_reference_api(mutant_id: str) -> None:
    # A tester's suite that only read the OpenAPI schema and TaskIn's JSON
    # schema caught two faulty versions. Each one must differ in behaviour
    # alone, so that only what the app does can tell it from the reference.
    grader = importlib.import_module("test_10_testing")
    reference = declarations(load_app_version(grader.REFERENCE_APP.read_text("utf-8")))
    mutant = declarations(load_app_version(grader.APP_MUTANT_LIST[mutant_id].source))

    assert mutant.keys() == reference.keys()
    for declaration, text in reference.items():
        assert mutant[declaration] == text, declaration


def test_audit_allows_both_test_files() -> None:
    for folder in ("exercises", "solutions"):
        source = (ROOT / folder / "10_testing" / "test_main.py").read_text("utf-8")
        assert audit.audit_source(source, MAIN_FUNCTIONS, MAIN_MODELS) == []


def test_audit_refuses_code_too_deep_to_parse() -> None:
    # A tester's file: 100 000 terms in one sum, which ast.parse cannot read.
    source = "x = " + "+".join(["1"] * 100_000) + "\n"

    findings = audit.audit_source(source, MAIN_FUNCTIONS, MAIN_MODELS)

    assert [finding.what for finding in findings] == [
        "code nested too deeply for Python to read"
    ]


def test_audit_ignores_syntax_errors() -> None:
    assert audit.audit_source("def broken(:\n") == []


# A test that passes only in the first run to leave its marker: if runs
# shared a file system, it would pass against the reference app (run first)
# and fail against every faulty version, catching them all.
FIRST_RUN_ONLY = """
import os


def marker_paths():
    yield os.path.join("/tmp", "apigrade-first-run-{token}")
    yield os.path.join(os.path.dirname(os.getcwd()), "first-run-{token}")


def test_first_run_only():
    for path in marker_paths():
        try:
            with open(path, "x"):
                pass
        except FileExistsError:
            raise AssertionError("a run before this one left its marker")
        except OSError:
            pass


def test_alone_in_parent_folder():
    try:
        neighbours = os.listdir(os.path.dirname(os.getcwd()))
    except OSError:
        neighbours = []
    assert len(neighbours) <= 1, neighbours
"""


@pytest.fixture
def chapter10_grader() -> ModuleType:
    return importlib.import_module("test_10_testing")


LEVELS = [
    pytest.param(
        BUBBLEWRAP,
        marks=pytest.mark.skipif(not bubblewrap_works(), reason="no bubblewrap here"),
    ),
    pytest.param(
        LANDLOCK,
        marks=pytest.mark.skipif(not landlock_works(), reason="no Landlock here"),
    ),
]


@pytest.mark.parametrize("level", LEVELS)
def test_runs_cannot_see_each_other(
    level: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chapter10_grader: ModuleType,
) -> None:
    monkeypatch.setenv("APIGRADE_ISOLATION", level)
    token = uuid.uuid4().hex
    test_file = tmp_path / "submission" / "test_main.py"
    test_file.parent.mkdir()
    test_file.write_text(FIRST_RUN_ONLY.format(token=token), encoding="utf-8")
    work_dir = tmp_path / "work"
    work_dir.mkdir()

    results = chapter10_grader.run_suites([test_file], work_dir, frozenset())

    assert sorted(results.reference.passed) == [
        "test_main.py::test_alone_in_parent_folder",
        "test_main.py::test_first_run_only",
    ]
    for name, run in results.mutants.items():
        assert run.ran, name
        assert not run.timed_out, name
        assert sorted(run.passed) == sorted(results.reference.passed), name
    assert not Path("/tmp", f"apigrade-first-run-{token}").exists()


# Draws from each source of random bytes that the runner seeds, each value put
# in a test's id, where the report shows it. A test's id that differs between two
# runs shows as a test that did not run in one of them.
RANDOM_DRAWS = """
import os
import random
import secrets
import ssl
import tempfile
import uuid

import httpx
import pytest


def multipart_boundary():
    with httpx.Client() as client:
        request = client.build_request("POST", "http://test/", files={"f": b"x"})
    return request.headers["content-type"].split("boundary=")[1]


DRAWS = {
    "urandom": os.urandom(4).hex(),
    "getrandom": os.getrandom(4).hex(),
    "random": random.random(),
    "new_random": random.Random().random(),
    "system_random": random.SystemRandom().random(),
    "secrets": secrets.token_hex(4),
    "uuid4": uuid.uuid4(),
    "uuid1_clock_seq": uuid.uuid1().clock_seq,
    "ssl": ssl.RAND_bytes(4).hex(),
    "tempfile": os.path.basename(tempfile.mkdtemp()),
    "boundary": multipart_boundary(),
}


@pytest.mark.parametrize("draw", [f"{name}={value}" for name, value in DRAWS.items()])
def test_draw(draw):
    pass


def test_boundary_starts_with_low_digit():
    # A tester's test that checks nothing. Unseeded, it passed in about half
    # the runs.
    assert multipart_boundary()[0] in "01234567"
"""


def test_runs_draw_the_same_random_values(
    tmp_path: Path, chapter10_grader: ModuleType
) -> None:
    test_file = tmp_path / "submission" / "test_main.py"
    test_file.parent.mkdir()
    test_file.write_text(RANDOM_DRAWS, encoding="utf-8")
    work_dir = tmp_path / "work"
    work_dir.mkdir()

    results = chapter10_grader.run_suites([test_file], work_dir, frozenset())

    assert results.reference.not_passed == []
    assert len(results.reference.passed) == 12
    for name, run in results.mutants.items():
        assert run.ran, name
        assert sorted(run.passed) == sorted(results.reference.passed), name
        assert chapter10_grader.caught_by(results, name) == [], name
