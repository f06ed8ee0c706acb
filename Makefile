# `make run`: set up everything and run the default job. `make test`: set up and run the tests.
# Both are idempotent: setup reruns only when pyproject.toml or the system-deps script changes.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fixynn-installed

.PHONY: setup run test test-slow bench lint
setup: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system-deps.sh Makefile
	bash scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,ray,bench]'
	touch $(STAMP)

run: setup
	$(BIN)/fixynn run

test: setup
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check src tests benchmarks
