"""cashmob.schemas: one module per resource, each imported with the first of
its models asked of the package. Its table of which model lives where is
held to the modules themselves here, so a model added to a module and not to
the table (or the other way round) fails."""

from __future__ import annotations

import importlib

import pytest
from pydantic import BaseModel

from cashmob import schemas


@pytest.mark.parametrize("module", sorted(schemas.MODELS))
def test_the_table_names_every_model_of_each_module_and_no_other(module):
    loaded = importlib.import_module(f"cashmob.schemas.{module}")
    defined = {
        name
        for name, value in vars(loaded).items()
        if isinstance(value, type) and issubclass(value, BaseModel)
        if value.__module__ == loaded.__name__
    }

    assert defined == set(schemas.MODELS[module])


def test_a_model_asked_of_the_package_is_its_module_own():
    for name, module in schemas.HOME.items():
        assert getattr(schemas, name) is getattr(
            importlib.import_module(f"cashmob.schemas.{module}"), name
        )
    assert "CampaignOut" in dir(schemas)


def test_a_name_the_package_has_not_is_refused():
    with pytest.raises(AttributeError, match="NoSuchModel"):
        _ = schemas.NoSuchModel
    with pytest.raises(ImportError):
        from cashmob.schemas import NoSuchModel  # noqa: F401
