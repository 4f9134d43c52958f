"""Package shells: a package's submodules imported without its `__init__`.

Python runs a package's `__init__` before any of its submodules, unless the
package's module is already in `sys.modules`. Some `__init__`s import every
submodule to re-export their names: `aws_lambda_powertools.event_handler`
imports every resolver (AppSync's brings asyncio), and
`aws_lambda_powertools.utilities.data_classes` every event class, though a
function needs one resolver or one record class. `shell(name)` puts in
`sys.modules` a module with the package's real spec, `__path__` and
`__file__`, so submodules import as usual, and nothing of its `__init__` runs
until a name is asked of it:

- a name the `__init__` re-exports (`from .sub import Name`) is taken from the
  submodule the `__init__` takes it from: the same object, and only that
  submodule imported. This holds only for an `__init__` made of such imports,
  a docstring and `__all__` alone (read from its source); for any other
  `__init__`, every such name runs the real one;
- a submodule's name imports that submodule (`from package import sub`);
- any other name (`__all__`, a name the package does not have) runs the real
  `__init__` into the shell, which from then on is an ordinary module.

`shell` does nothing for a package already imported, so code that imported the
package before (tests, the local stack) keeps it as it is.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import threading
import types
from importlib.machinery import ModuleSpec
from typing import Any

# The Powertools packages whose `__init__` imports far more than a function
# needs. A handler module calls `powertools()` before its first Powertools import.
POWERTOOLS = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
)
# Packages Powertools imports for code our functions never run. The batch
# utility's `base` imports asyncio at the top for its async processors alone;
# the SQS workers use the synchronous ones, and asyncio's `__init__` (every
# event loop, transport and stream module) is ~14 ms of their cold start. As
# a shell, `import asyncio` costs nothing; the first name asked of it (by
# anyone) runs its `__init__`, so an async processor would still work.
UNUSED_BY_OUR_FUNCTIONS = ("asyncio",)

_LOCK = threading.RLock()
_SHELLS: dict[str, _Shelled] = {}


class _Shelled:
    """What a shell knows about its package until its `__init__` has run."""

    def __init__(self, spec: ModuleSpec) -> None:
        self.spec = spec
        self._exports: dict[str, tuple[str, str]] | None = None
        self._read = False

    def exports(self) -> dict[str, tuple[str, str]] | None:
        """name -> (submodule, attribute) for an `__init__` of re-exports alone,
        else None."""
        with _LOCK:
            if not self._read:
                source = self.spec.loader.get_source(self.spec.name)  # type: ignore[union-attr]
                self._exports = _reexports(self.spec.name, source or "")
                self._read = True
            return self._exports


def _reexports(package: str, source: str) -> dict[str, tuple[str, str]] | None:
    exports: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 1:
                source_module = f"{package}.{node.module}"
            elif node.level == 0 and node.module.startswith(package + "."):
                source_module = node.module
            else:
                return None  # a name from outside the package, or from a parent
            for alias in node.names:
                if alias.name == "*":
                    return None
                exports[alias.asname or alias.name] = (source_module, alias.name)
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                continue
        return None  # anything else the `__init__` does: it must run
    return exports


class _Shell(types.ModuleType):
    """A package whose `__init__` has not run (yet)."""

    def __getattr__(self, name: str) -> Any:
        # Submodules are imported outside _LOCK (the import system has locks
        # of its own): Powertools' modules, imported through the shells, ask
        # them for re-exported names and submodules alone.
        state = _SHELLS.get(self.__name__)
        if state is None:  # the real `__init__` has run: an ordinary miss
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        exports = state.exports()
        if exports is not None and name in exports:
            module, attribute = exports[name]
            value = getattr(importlib.import_module(module), attribute)
            self.__dict__[name] = value
            return value
        if name.isidentifier() and not name.startswith("__"):
            qualified = f"{self.__name__}.{name}"
            if importlib.util.find_spec(qualified) is not None:
                return importlib.import_module(qualified)
        with _LOCK:
            if _SHELLS.get(self.__name__) is state:
                _run_init(self, state)
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule binds it on its package. Where the `__init__`
        # re-binds that name to an object of the submodule
        # (`from .event_source import event_source`), the package holds that
        # object, as after its `__init__`.
        state = _SHELLS.get(self.__name__)
        if state is not None and isinstance(value, types.ModuleType):
            exports = state.exports()
            source = exports.get(name) if exports else None
            if source is not None and source[0] == value.__name__:
                value = getattr(value, source[1], value)
        super().__setattr__(name, value)


def _run_init(module: types.ModuleType, state: _Shelled) -> None:
    """Runs the package's real `__init__` into its shell (under _LOCK)."""
    del _SHELLS[module.__name__]
    try:
        state.spec.loader.exec_module(module)  # type: ignore[union-attr]
    except BaseException:
        _SHELLS[module.__name__] = state
        raise
    module.__class__ = types.ModuleType


def shell(name: str) -> types.ModuleType:
    """The package `name` in sys.modules: a shell, unless it is imported already."""
    with _LOCK:
        existing = sys.modules.get(name)
        if existing is not None:
            return existing
        parent, _, child = name.rpartition(".")
        parent_module = importlib.import_module(parent) if parent else None
        spec = importlib.util.find_spec(name)
        if spec is None or spec.submodule_search_locations is None or spec.loader is None:
            raise ImportError(f"{name} is not a package", name=name)
        module = importlib.util.module_from_spec(spec)
        _SHELLS[name] = _Shelled(spec)
        module.__class__ = _Shell
        sys.modules[name] = module
        if parent_module is not None:
            setattr(parent_module, child, module)
        return module


def is_shell(name: str) -> bool:
    """Whether the package `name` is a shell whose `__init__` has not run."""
    return name in _SHELLS and isinstance(sys.modules.get(name), _Shell)


def powertools() -> None:
    """Shells for POWERTOOLS and UNUSED_BY_OUR_FUNCTIONS: call before the
    first Powertools import."""
    for name in POWERTOOLS + UNUSED_BY_OUR_FUNCTIONS:
        shell(name)
