# One entry point for people and CI. Every target creates .venv itself.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: compose-env help install system-stack system-tests lock up down status demo test test-unit test-integration check lint typecheck clean chaos

help:
	@echo "make demo   - bring up the native stack, capture changes, show them flowing"
	@echo "make test   - lint, type-check and run every test against the real stack"
	@echo "make up / down / status - manage the native stack"

# The Python packages, at the versions CI tested (constraints.txt).
$(BIN)/fraudgraph: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 required)"; exit 2; }
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --constraint constraints.txt --upgrade pip
	@echo "installing the Python packages (the first time: about 700 MB, a few minutes)"
	$(BIN)/pip install --progress-bar on --constraint constraints.txt -e ".[dev]"
	@touch $@

install: $(BIN)/fraudgraph

# The Debian packages, from the one list in stack/debian.py (also what `stack up` uses).
system-stack:
	$(PYTHON) stack/debian.py install stack

system-tests:
	$(PYTHON) stack/debian.py install stack tests

# A fresh resolve of pyproject's ranges into constraints.txt: run on purpose, then test.
lock:
	rm -rf .cache/lock-venv && $(PYTHON) -m venv .cache/lock-venv
	.cache/lock-venv/bin/pip install -q --upgrade pip
	.cache/lock-venv/bin/pip install -q -e ".[dev]"
	{ sed -n '1,2p' constraints.txt; .cache/lock-venv/bin/pip freeze --exclude-editable; .cache/lock-venv/bin/pip freeze --all | grep '^pip=='; } >constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .cache/lock-venv

up: install system-stack
	$(BIN)/fraudgraph stack up
	eval "$$($(BIN)/fraudgraph stack env)" && $(BIN)/fraudgraph connectors apply

down: install
	$(BIN)/fraudgraph stack down

status: install
	$(BIN)/fraudgraph stack status

demo: up
	eval "$$($(BIN)/fraudgraph stack env)" && $(BIN)/fraudgraph demo

check: lint typecheck

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: system-tests check
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest tests/unit

test-integration: install system-tests
	$(BIN)/pytest tests/integration

# Every fault scenario at full length against the stack `fraudgraph stack env` names
# (~1.5 h; stops and starts services: use a second stack, see README "Reliability").
CHAOS_SCENARIOS ?= none kill-worker rebalance neo4j-down broker-restart connect-restart postgres-restart webhook-outage poison
chaos: install
	eval "$$($(BIN)/fraudgraph stack env)" && failed=0 && for scenario in $(CHAOS_SCENARIOS); do \
		$(BIN)/fraudgraph chaos $$scenario --json bench-results/chaos-$$scenario.json || failed=1; \
	done && exit $$failed

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

compose-env:
	scripts/compose-env
