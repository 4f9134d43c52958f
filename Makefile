# The few commands people type. Each one builds .venv first if it is missing
# or older than pyproject.toml.
PYTHON  ?= $(shell infra/find-python)
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test lint typecheck format demo bench chaos fuzz openapi browser screenshots clean

$(STAMP): pyproject.toml shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cashmob local

test: $(STAMP) lint typecheck browser
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The payments package against stripe-python's parameter types ([tool.mypy]).
typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Chromium for the browser tests (tests/browser) and the screenshots: Debian's
# package, which Playwright drives (its own browser download is not used).
# Installed when missing and we are root; otherwise this says how, and the
# browser tests skip saying why (in CI, where they must run, they fail).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make browser: installing Debian's chromium for the browser tests"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			|| echo "make browser: apt-get could not install chromium; tests/browser will say so"; \
	else \
		echo "make browser: Chromium is missing. Install Debian's package (as root: apt-get install -y chromium);"; \
		echo "              until then the browser tests (tests/browser) are skipped."; \
	fi

# PNGs of every page, wide and 360 px narrow, into docs/screenshots/ (the README shows them).
screenshots: $(STAMP) browser
	$(BIN)/python -m tests.browser.screenshots docs/screenshots

openapi: $(STAMP)
	$(BIN)/python -m cashmob_local.openapi > docs/openapi.json

demo: $(STAMP)
	$(BIN)/cashmob demo

# Figures for docs/BENCHMARKS.md, side by side from one run (the better part
# of an hour: intake bursts of 2,000 pledges and 22,600 pledges settled, both
# flows, at Stripe's 25 requests/s; cold starts; the demo; the hot campaign).
# Part of it: make bench BENCH_ARGS="--only intake --intake-pledges 300".
bench: $(STAMP)
	$(BIN)/python -m cashmob_local.bench $(BENCH_ARGS)

# The heavy fault runs: 1,000 pledges through 429s/500s, and the chaos suite
# with 500 pledges.
chaos: $(STAMP)
	CHAOS_PLEDGES=500 $(BIN)/python -m pytest -m "slow or e2e" -p no:cacheprovider \
		tests/integration/test_settlement_stripe.py tests/e2e/test_chaos.py $(PYTEST_ARGS)

# schemathesis against a running cashmob local (started by the test), plus
# the hostile inputs; FUZZ_CASES sets the number of generated requests.
fuzz: $(STAMP)
	FUZZ_CASES=2500 $(BIN)/python -m pytest -m "slow or e2e" tests/e2e/test_fuzz.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build .aws-sam
