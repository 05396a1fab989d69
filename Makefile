# `make run`: set up .venv, generate sample data, run the nightly flow on Prefect's local server.
# `make test`: set up .venv and run the test suite (what .ci/run calls); the dev extra brings moto[server],
# whose moto_server the S3 tests (tests/s3/) start on a loopback port.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export TF_CPP_MIN_LOG_LEVEL := 2
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90

CHROMIUM := /usr/bin/chromium
CHROMIUM_LOG := $(VENV)/chromium-install.log

.PHONY: setup browser run test clean-data

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: setup
	$(BIN)/nightwatch generate
	$(BIN)/nightwatch run

# The report's browser test (tests/e2e/test_report_browser.py) uses Debian chromium: install it when it
# is missing and this runs as root (as CI does). A failed install does not stop the suite: the browser
# test then fails and shows $(CHROMIUM_LOG); without root it is skipped.
browser: setup
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" != 0 ]; then echo "$(CHROMIUM) missing and not root: the browser test will be skipped"; \
	elif ! command -v apt-get >/dev/null 2>&1; then echo "no apt-get to install chromium" > $(CHROMIUM_LOG); \
	  echo "$(CHROMIUM) missing and no apt-get: the browser test will fail"; \
	else echo "installing Debian chromium for the report browser test (log: $(CHROMIUM_LOG))"; \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } > $(CHROMIUM_LOG) 2>&1 \
	    || echo "chromium install failed (see $(CHROMIUM_LOG)): the browser test will fail"; \
	fi

test: setup browser
	$(BIN)/python -m pytest -q

clean-data:
	find data models -mindepth 1 ! -name README.md -delete
