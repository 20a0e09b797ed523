# Two commands do all set-up on a fresh machine (Python 3.11+):
#   make demo   a server on SQLite with a seeded demo project
#   make test   the whole test suite
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean

$(BIN)/crowd: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/crowd
	$(BIN)/crowd demo

test: $(BIN)/crowd
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/crowd
	$(BIN)/ruff check crowd tests bench
	$(BIN)/ruff format --check crowd tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache crowd-demo.db*
