# The two commands: `make run` and `make test`. Each builds what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[codecs]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev,codecs]'
	touch $@ $(VENV)/.installed

## run the shipped scenarios on the embedded default department
run: $(VENV)/.installed
	$(BIN)/radsim run scenarios

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check simulator tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

## ruff, mypy, then the whole pytest suite (unit, integration, e2e, shipped scenarios)
test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/store_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
