# The few commands people type. Each one builds .venv first if it is missing
# or older than pyproject.toml.
PYTHON  ?= $(shell infra/find-python)
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test lint format demo bench chaos fuzz package openapi clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cashmob local

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: $(STAMP)
	$(BIN)/python -m cashmob_local.openapi > docs/openapi.json

demo: $(STAMP)
	$(BIN)/cashmob demo

package: $(STAMP)
	$(BIN)/python -m cashmob_local.package

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build .aws-sam
