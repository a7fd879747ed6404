# Every target bootstraps .venv from uv.lock when it is missing or stale, so a fresh clone
# needs nothing but python3.11. uv itself is installed into .tools/ from PyPI at a pinned version.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.9.0
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced-$(UV_VERSION)
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(shell command -v $(PYTHON) 2>/dev/null || command -v python3)

.PHONY: venv demo test slower lint bench clean

$(UV):
	$(UV_PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	rm -f $(VENV)/.synced-*
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(VENV)/bin/roi demo

test: venv
	$(VENV)/bin/pytest

# The slower tier (marker `slower`, left out of `make test`): the chaos matrix
# (tests/e2e/test_chaos.py), the real `roi serve` loop, ops freshness at peak and the dbt-level
# simulated world. .ci/run runs it after the suite; README "A slower tier".
slower: venv
	$(VENV)/bin/pytest -m slower

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/sqlfluff lint sql_models
	$(VENV)/bin/lint-imports

bench: venv
	$(VENV)/bin/python -m benchmarks

clean:
	rm -rf $(VENV) $(TOOLS) .roi
