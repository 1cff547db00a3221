# Developer entry points. Works from a fresh clone: every target that needs Python builds .venv first.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install, so the venv is rebuilt only when pyproject.toml or the lock changes.
STAMP := $(VENV)/.installed
# Every install comes from uv.lock (exact versions and hashes); uv itself is pinned and hash-checked by the same lock.
UV := $(BIN)/uv
UV_VERSION := $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock)
export UV_PROJECT_ENVIRONMENT := $(VENV)

HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv lock run test test-programs lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml uv.lock
	if [ ! -x $(BIN)/python ] && ! $(PYTHON) -m venv $(VENV); then
	  # Debian ships venv separately; install it when we are allowed to, then try once more.
	  rm -rf $(VENV)
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
	  fi
	  $(PYTHON) -m venv $(VENV)
	fi
	if ! { [ -x $(UV) ] && [ "$$($(UV) --version | cut -d' ' -f2)" = '$(UV_VERSION)' ]; }; then
	  # uv itself from the lock too: its version and hashes, checked by pip
	  $(BIN)/python scripts/uv-requirement.py uv.lock > $(VENV)/uv-requirement.txt
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
	    -r $(VENV)/uv-requirement.txt
	fi
	$(UV) sync --quiet --frozen --extra dev --python $(BIN)/python
	touch $@

# After changing dependencies in pyproject.toml: re-resolve and pin them (commit uv.lock with the change).
lock: venv
	$(UV) lock

# Debian programs driven for real: Chromium (browser tests, through Playwright), Node.js with npm (the
# original system's client rules and its own contract and security suites) and promtool (the /metrics
# scrape, the exported alert rules and dashboard queries) and nginx (the proxy of serve --daemon) by the tests,
# wrk by the HTTP benchmark.
TEST_PROGRAMS := chromium:chromium node:nodejs npm:npm promtool:prometheus nginx:nginx
# The suites' one dependency (axios), pinned by its lock file; reinstalled when the lock file changes.
NODE_MODULES := tests/compat_js/node_modules/.package-lock.json
BENCH_PROGRAMS := wrk:wrk

run: venv
	$(BIN)/oppscope db upgrade
	exec $(BIN)/oppscope serve --host '$(HOST)' --port '$(PORT)'

lint: venv
	$(UV) lock --check --quiet
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint test-programs $(NODE_MODULES)
	$(BIN)/pytest -q

test-programs:
	scripts/ensure-debian-packages.sh $(TEST_PROGRAMS)

$(NODE_MODULES): tests/compat_js/package-lock.json | test-programs
	npm ci --prefix tests/compat_js --no-audit --no-fund --loglevel=error

bench: venv
	scripts/ensure-debian-packages.sh $(BENCH_PROGRAMS)
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/http.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis tests/artifacts tests/compat_js/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
