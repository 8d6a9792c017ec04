# The two commands a newcomer needs (see README.md):
#   make run    set up .venv, then run the whole demo pipeline offline
#   make test   set up .venv, lint (ruff, settings in pyproject.toml), then run the test suite
PYTHON := .venv/bin/python
OUTPUT_DIR ?= outputs/demo
PYTEST_ARGS ?=
# Test processes (pytest-xdist), each file's tests on one of them (--dist loadfile: a module fixture is made
# once). Two on any machine: a test's single-threaded phases (tracing, Beam, Python start-up) overlap the
# other's computation; more would multiply the memory of the pipeline tests. A session fixture is made once
# per process that uses it.
TEST_WORKERS ?= 2

.PHONY: setup run lint test test-fast clean

setup:
	@bash scripts/setup_env.sh

run: setup
	$(PYTHON) pipeline_runner.py run --profile demo --output-dir $(OUTPUT_DIR)

lint: setup
	.venv/bin/ruff check .

test: lint
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf outputs .pytest_cache
