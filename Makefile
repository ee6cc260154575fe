# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo_output

.PHONY: demo test venv install install-test lint bench clean

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

test: install-test
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check metarouter_econml tests benchmarks

clean:
	rm -rf $(DEMO_OUT) .pytest_cache build *.egg-info
