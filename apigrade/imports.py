"""Find the files in an app's folder that Python would import in place of others.

The folder an app runs from comes first on sys.path, so a file there with a
module's name is imported in place of that module.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.metadata
import sys
from pathlib import Path

# The kinds of module file Python's path finder looks for, in its order:
# extension modules, then source, then bytecode.
MODULE_LOADERS = (
    (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
    (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES),
    (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES),
)


def module_shadowing_main(app_dir: Path) -> Path | None:
    """Return what `import main` finds in `app_dir` in place of main.py, or None.

    A package folder main/ comes before main.py, and so does an extension
    module such as main.abi3.so, so uvicorn main:app would run either one.
    """
    finder = importlib.machinery.FileFinder(str(app_dir), *MODULE_LOADERS)
    spec = finder.find_spec("main")
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin)
    if origin == app_dir / "main.py":
        return None
    return origin.parent if spec.submodule_search_locations else origin


@functools.cache
def imported_module_names() -> frozenset[str]:
    """Return the top-level names of the modules the grading processes may import.

    These are the standard library's and the installed packages' modules: the
    server, the graders and pytest import from both, and so does the app.
    """
    installed = importlib.metadata.packages_distributions()
    return (frozenset(sys.stdlib_module_names) | frozenset(installed)) - {"main"}


def modules_shadowed(app_dir: Path) -> list[tuple[Path, str]]:
    """Return each file or package in `app_dir` with the name of an imported module.

    The app's folder comes first on sys.path, in the server and in chapter 10's
    tests, so Python would import a uvicorn.py or an asyncio/ package there in
    place of the real module. Each pair is the path and the module's name.
    """
    finder = importlib.machinery.FileFinder(str(app_dir), *MODULE_LOADERS)
    protected = imported_module_names()
    names = sorted(
        {entry.name.partition(".")[0] for entry in app_dir.iterdir()} & protected
    )
    shadowed = []
    for name in names:
        spec = finder.find_spec(name)
        # A folder without __init__.py is a namespace portion: a real module
        # later on sys.path still comes first.
        if spec is None or spec.origin is None or spec.loader is None:
            continue
        origin = Path(spec.origin)
        shadowed.append(
            (origin.parent if spec.submodule_search_locations else origin, name)
        )
    return shadowed


def describe_module(name: str) -> str:
    """Name where the module `name` comes from, for a message."""
    if name in sys.stdlib_module_names:
        return f"Python's standard module {name}"
    return f"the installed package {name}"
