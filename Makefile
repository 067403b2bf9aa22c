# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   installs into .venv (first use) and runs the main job on embedded defaults
#   make test   installs into .venv (first use) and runs lint and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/surge demo

test: $(STAMP)
	bash scripts/install-tools.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q

# The fast unit tests alone (seconds): pure functions, parsers, strategies.
test-fast: $(STAMP)
	$(BIN)/pytest -q tests/unit

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
