"""Package shells (cashmob.lazy_imports): a submodule imports without its
package's `__init__`; any other name gives what the `__init__` would."""

from __future__ import annotations

import importlib
import sys
import textwrap
import types
from itertools import count
from pathlib import Path

import pytest

from cashmob import lazy_imports
from tests.probes import probe

_names = count()

# Each submodule records its import in `tracker.loaded`; `__init__` imports
# `heavy`, which nothing else asks for.
SUBMODULES = {
    "alpha.py": "class Alpha: pass\nshared = object()\n",
    "beta.py": "class Beta: pass\n",
    "gamma.py": "def gamma(): return 'the function'\n",
    "heavy.py": "class Heavy: pass\n",
    "loose.py": "LOOSE = 1\n",  # a submodule the __init__ does not import
}
PURE_INIT = '''
"""A package of re-exports."""
from __future__ import annotations
from .alpha import Alpha, shared as renamed
from {name}.beta import Beta
from .gamma import gamma
from .heavy import Heavy
__all__ = ["Alpha", "Beta", "Heavy", "gamma", "renamed"]
'''


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A fresh package `name` (pure re-exports unless `init` is given) under
    tmp_path, and the tracker of its imports; removed from sys.modules after."""
    made: list[str] = []

    def make(init: str | None = None) -> tuple[str, list[str]]:
        name = f"shellpkg{next(_names)}"
        tracker = f"{name}_tracker"
        (tmp_path / f"{tracker}.py").write_text("loaded = []\n")
        folder = tmp_path / name
        folder.mkdir()
        for file, body in SUBMODULES.items():
            record = f"import {tracker}\n{tracker}.loaded.append({file[:-3]!r})\n"
            (folder / file).write_text(record + body)
        init_text = (init if init is not None else PURE_INIT).format(name=name)
        (folder / "__init__.py").write_text(textwrap.dedent(init_text).replace("TRACKER", tracker))
        made.extend([name, tracker])
        return name, importlib.import_module(tracker).loaded

    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield make
    for name in made:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


def test_a_submodule_imports_without_the_package_init(package):
    name, loaded = package()
    shell = lazy_imports.shell(name)

    alpha = importlib.import_module(f"{name}.alpha")

    assert loaded == ["alpha"]
    assert lazy_imports.is_shell(name)
    assert sys.modules[name] is shell
    assert shell.alpha is alpha  # bound on its package, as any submodule
    assert shell.__path__ == [str(Path(alpha.__file__).parent)]


def test_a_reexported_name_comes_from_its_submodule_alone(package):
    name, loaded = package()
    lazy_imports.shell(name)

    namespace: dict = {}
    exec(f"from {name} import Alpha, Beta, renamed", namespace)

    alpha, beta = sys.modules[f"{name}.alpha"], sys.modules[f"{name}.beta"]
    assert namespace["Alpha"] is alpha.Alpha
    assert namespace["Beta"] is beta.Beta
    assert namespace["renamed"] is alpha.shared
    assert sorted(loaded) == ["alpha", "beta"]  # not heavy, nor gamma
    assert lazy_imports.is_shell(name)


def test_any_other_name_runs_the_real_init_with_the_same_objects(package):
    name, loaded = package()
    shell = lazy_imports.shell(name)
    early = shell.Alpha

    exported = shell.__all__

    assert sorted(loaded) == ["alpha", "beta", "gamma", "heavy"]
    assert not lazy_imports.is_shell(name)
    assert type(shell) is types.ModuleType
    assert shell.Alpha is early
    assert {n: getattr(shell, n) for n in exported} == {
        "Alpha": sys.modules[f"{name}.alpha"].Alpha,
        "Beta": sys.modules[f"{name}.beta"].Beta,
        "Heavy": sys.modules[f"{name}.heavy"].Heavy,
        "gamma": sys.modules[f"{name}.gamma"].gamma,
        "renamed": sys.modules[f"{name}.alpha"].shared,
    }
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        shell.missing  # noqa: B018


def test_a_name_the_package_lacks_is_an_attribute_error_after_its_init(package):
    name, loaded = package()
    shell = lazy_imports.shell(name)

    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        shell.missing  # noqa: B018
    with pytest.raises(ImportError):
        exec(f"from {name} import missing", {})

    assert "heavy" in loaded
    assert not lazy_imports.is_shell(name)


def test_a_name_both_submodule_and_reexport_is_the_reexport(package):
    """`from .gamma import gamma`: the package's `gamma` is the function, even
    once the submodule is imported first (which binds the module there)."""
    name, _ = package()
    shell = lazy_imports.shell(name)

    importlib.import_module(f"{name}.gamma")
    namespace: dict = {}
    exec(f"from {name} import gamma", namespace)

    assert callable(namespace["gamma"]) and namespace["gamma"]() == "the function"
    assert shell.gamma is namespace["gamma"]


def test_a_submodule_the_init_does_not_import_is_imported_by_name(package):
    name, loaded = package()
    lazy_imports.shell(name)

    namespace: dict = {}
    exec(f"from {name} import loose", namespace)

    assert namespace["loose"] is sys.modules[f"{name}.loose"]
    assert loaded == ["loose"]
    assert lazy_imports.is_shell(name)


def test_an_init_that_does_more_than_reexport_runs_for_any_name(package):
    name, loaded = package(
        PURE_INIT + "import TRACKER\nTRACKER.loaded.append('init')\nVERSION = '1'\n"
    )
    shell = lazy_imports.shell(name)

    importlib.import_module(f"{name}.beta")
    assert loaded == ["beta"]

    assert shell.Alpha is sys.modules[f"{name}.alpha"].Alpha

    assert loaded == ["beta", "alpha", "gamma", "heavy", "init"]
    assert shell.VERSION == "1"
    assert not lazy_imports.is_shell(name)


def test_an_init_that_fails_raises_and_stays_a_shell(package):
    name, loaded = package(PURE_INIT + "raise RuntimeError('broken')\n")
    shell = lazy_imports.shell(name)

    with pytest.raises(RuntimeError, match="broken"):
        shell.Alpha  # noqa: B018
    assert lazy_imports.is_shell(name)
    assert "heavy" in loaded
    with pytest.raises(RuntimeError, match="broken"):  # asked again, it runs again
        shell.missing  # noqa: B018


def test_a_package_already_imported_is_left_as_it_is(package):
    name, loaded = package()
    real = importlib.import_module(name)

    assert lazy_imports.shell(name) is real
    assert type(real) is types.ModuleType
    assert not lazy_imports.is_shell(name)
    assert sorted(loaded) == ["alpha", "beta", "gamma", "heavy"]


def test_only_packages_can_be_shells(package):
    name, _ = package()
    with pytest.raises(ImportError, match="not a package"):
        lazy_imports.shell(f"{name}.alpha")
    assert f"{name}.alpha" not in sys.modules or not lazy_imports.is_shell(f"{name}.alpha")


# ------------------------------------------------- Powertools, in a fresh interpreter

POWERTOOLS = """
import json, sys
if sys.argv[1] == "shells":
    import cashmob.lazy_powertools
from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from cashmob.lazy_imports import is_shell
before = {
    # Run, not a shell (cashmob.lazy_imports.UNUSED_BY_OUR_FUNCTIONS).
    "asyncio": "asyncio" in sys.modules and not is_shell("asyncio"),
    "appsync": "aws_lambda_powertools.event_handler.appsync" in sys.modules,
    "event classes": sorted(m for m in sys.modules if m.startswith("aws_lambda_powertools.utilities.data_classes.")),
}
import aws_lambda_powertools.event_handler as handlers
import aws_lambda_powertools.utilities.data_classes as classes
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver as by_package
from aws_lambda_powertools.utilities.data_classes import event_source
same = by_package is APIGatewayHttpResolver and classes.SQSRecord is SQSRecord
names = {
    package.__name__: {n: f"{getattr(package, n).__module__}.{getattr(package, n).__qualname__}" for n in package.__all__}
    for package in (handlers, classes)
}
print(json.dumps({"before": before, "same": same, "names": names, "event_source": callable(event_source) and type(event_source).__name__}))
"""


def _powertools(mode: str) -> dict:
    return probe(POWERTOOLS, mode)


def test_powertools_by_module_then_by_package_gives_the_same_objects():
    shelled, real = _powertools("shells"), _powertools("real")

    assert shelled["before"]["asyncio"] is False
    assert shelled["before"]["appsync"] is False
    assert len(shelled["before"]["event classes"]) < len(real["before"]["event classes"]) / 2
    assert real["before"]["appsync"] is True  # what the shells spare
    # Every name of both packages' __all__ is the same class or function.
    assert shelled["names"] == real["names"]
    assert shelled["same"] and real["same"]
    assert shelled["event_source"] == real["event_source"] == "function"
