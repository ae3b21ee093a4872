# Two commands on a fresh Debian machine, as root, offline from any image registry:
#   make demo   set everything up, bring the staging stack up, run the release checklist
#   make test   set everything up and run the whole test suite (Docker tests included)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
JOBCHECK := $(VENV)/bin/jobcheck
RELEASE_TAG ?= v$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# The scripts download wheels and the Compose plugin with this pip (a fresh Debian has no
# system pip; the venv has one).
export PIP ?= $(abspath $(PY)) -m pip

.PHONY: setup engine images previous-image host-services browser demo test unit lint gate stack-up stack-down bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 is required (apt-get install -y python3 python3-venv)"; exit 1; }
	@python3 -c 'import venv, ensurepip' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# arq pins redis<6, which Celery's kombu refuses: its adapter runs on the redis-py above.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps 'arq>=0.26'
	@touch $@

# The engine, Compose v2 (the plugin) and v1 with paramiko: scripts/engine.sh.
engine: setup
	bash scripts/engine.sh

images: engine
	bash scripts/stack-images.sh

# Real services the tests start themselves (redis-server from Debian's packages).
host-services:
	bash scripts/host-services.sh

# Headless Chromium (Debian's package) for the HTML report's browser tests.
browser:
	bash scripts/browser.sh

# The demo's previous release (jobcheck/demo-service:previous), which the release checklist's
# rollback drill rolls back to; the stack's bring-up builds the new one (:staging).
previous-image: images
	APP_TAG=previous $(shell docker compose version >/dev/null 2>&1 && echo docker compose || echo docker-compose) -f docker/compose.yaml build api

# The release checklist runs the unit tests too: they need the host services and the browser.
demo: setup images previous-image host-services browser
	RELEASE_TAG=$(RELEASE_TAG) $(JOBCHECK) run checklists/release.yaml

test: setup images host-services browser
	PY=$(PY) bash scripts/test.sh

unit: setup host-services browser
	$(PY) -m pytest tests/unit tests/e2e -m "not docker"

lint: setup
	$(VENV)/bin/ruff check src tests bench docker/app docker/celery/app docker/samples
	$(VENV)/bin/ruff format --check src tests bench docker/app docker/celery/app docker/samples

gate: setup images previous-image host-services browser
	RELEASE_TAG=$(RELEASE_TAG) $(JOBCHECK) run checklists/release.yaml \
		--json .jobcheck/gate.json --junit .jobcheck/gate.xml --markdown .jobcheck/gate.md $(GATE_ARGS)

stack-up: setup images
	$(JOBCHECK) stack up -c checklists/release.yaml

stack-down: setup
	$(JOBCHECK) stack down -c checklists/release.yaml

# make bench [BENCH_ARGS="--quick" | "--gate --gate-project P --gate-ports API,REDIS"]
bench: setup
	$(PY) bench/run.py --docs docs/performance.md $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .jobcheck build dist src/*.egg-info
