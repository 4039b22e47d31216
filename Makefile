# The two commands: `make run` (the whole portal) and `make test` (the whole suite).
# Both install what they need into .venv from the pinned, hashed requirements.lock.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export PYTHONPATH := $(CURDIR)
# Eleven Python processes start at once: compiled bytecode halves their start-up.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install run demo test bench chaos lint browser contracts lock clean-data help

help:
	@echo "make run       start the whole portal (embedded PostgreSQL + Kafka-protocol broker unless configured)"
	@echo "make demo      walk the whole journey against a running 'make run' and print it as a timeline"
	@echo "make test      lint, then the whole test suite on its own throwaway PostgreSQL and broker"
	@echo "make bench     benchmarks at national scale; report in .data/bench/report.md and report.json"
	@echo "make chaos     every fault under load, then a 10-minute soak; report in .data/chaos/"
	@echo "make lint      ruff, import rules between services, mypy --strict, contract schemas up to date"
	@echo "make lock      re-resolve requirements.lock from pyproject.toml (on purpose only)"
	@echo "make contracts export the event JSON Schemas after changing a contract model"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(STAMP): requirements.lock | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --require-hashes --compile-bytecode --python $(PY) requirements.lock
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m deploy.local.run

# Against a running `make run` (another terminal): sign-in, search, submit, two declined payments
# then one paid, the province's statuses, the notices (live inbox stream, e-mail, SMS with a retry
# and a failover), rating, statistics, feedback answered by an official, and a province's portal
# signing in through the national SSO.
demo: install
	$(PY) -m deploy.demo $(DEMO_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -m contracts.export --check

# The sign-in page is tested in Debian's Chromium (Playwright drives it; it downloads no browser).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

browser: $(CHROMIUM)

test: lint browser
	$(PY) -m pytest

# A few minutes, bounded: its own PostgreSQL, generated data, load on loopback only.
bench: install
	$(PY) -m bench $(BENCH_ARGS)

# About 25 minutes, bounded: the portal as processes on its own PostgreSQL and broker, a mixed load
# through the gateway on loopback, each fault in turn against every service (the short form runs in
# make test), then ten minutes at half the measured capacity. CHAOS_ARGS="--no-faults" soaks only.
chaos: install
	$(PY) -m tests.chaos --soak $(CHAOS_ARGS)

contracts: install
	$(PY) -m contracts.export

lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev --generate-hashes --no-emit-index-url \
		--python-version 3.11 --quiet -o requirements.lock

clean-data:
	rm -rf .data
