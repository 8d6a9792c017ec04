# The two commands a newcomer needs (see README.md):
#   make run    set up .venv, then run the whole demo pipeline offline
#   make test   set up .venv, lint (ruff, settings in pyproject.toml), then run the test suite
PYTHON := .venv/bin/python
OUTPUT_DIR ?= outputs/demo
PYTEST_ARGS ?=

.PHONY: setup run lint test test-fast clean

setup:
	@bash scripts/setup_env.sh

run: setup
	$(PYTHON) pipeline_runner.py run --profile demo --output-dir $(OUTPUT_DIR)

lint: setup
	.venv/bin/ruff check .

test: lint
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PYTHON) -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf outputs .pytest_cache
