# Everything runs from the project's own virtualenv, created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test unit integration repeat bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Start the platform on an embedded local Ray with the example endpoint (Ctrl-C stops it).
up: $(STAMP)
	$(BIN)/serverless-ray up --apply deployments/example.yaml

## Unit and integration tests (a local Ray cluster is started and stopped by the tests).
test: $(STAMP)
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

## Run tests RUNS times in fresh processes and list every test that failed in any run.
RUNS  ?= 5
TESTS ?= tests/integration
repeat: $(STAMP)
	$(BIN)/python tests/repeat.py --runs $(RUNS) $(TESTS)

## Latency and throughput of the invocation path (prints figures; asserts nothing).
bench: $(STAMP)
	$(BIN)/python bench/invoke_latency.py

clean:
	rm -rf $(VENV) .state .pytest_cache
