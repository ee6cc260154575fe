# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo_output

.PHONY: demo test venv install install-test lint lint-check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python

install: venv
	$(BIN)/python -m pip install --quiet -e .

install-test: venv
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test,text,ray]"

demo: install
	$(BIN)/metarouter demo --out $(DEMO_OUT)

# The suite runs on PYTEST_WORKERS processes (pytest-xdist), each taking whole test files so
# that module-scoped fixtures are fitted once; `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= 2
test: install-test lint-check
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=20

# Lint and type check (installed by the [test] extra); part of `make test`.
lint-check: install-test
	$(BIN)/ruff check metarouter_econml tests benchmarks
	$(BIN)/mypy

lint: lint-check

# Benchmark scripts (benchmarks/*.py) need the [bench] extra (tabulate for markdown tables).
bench: install
	$(BIN)/python -m pip install --quiet -e ".[bench]"

clean:
	rm -rf $(DEMO_OUT) .pytest_cache build *.egg-info
