# `make run`: set up .venv, generate sample data, run the nightly flow on Prefect's local server.
# `make test`: set up .venv and run the test suite (what .ci/run calls).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export TF_CPP_MIN_LOG_LEVEL := 2
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90

.PHONY: setup run test clean-data

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: setup
	$(BIN)/nightwatch generate
	$(BIN)/nightwatch run

test: setup
	$(BIN)/python -m pytest -q

clean-data:
	find data models -mindepth 1 ! -name README.md -delete
