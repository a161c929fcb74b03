# Storyline: `make demo` sets everything up and runs the demo; `make test` runs the tests.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := demo

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.storyline-installed
# pip's own warnings about unreachable mirror folders are noise here.
QUIET_PIP := grep -v -e '^WARNING: Location' -e '^$$' || true

export HF_HUB_OFFLINE := 1

.PHONY: install demo test lint pytest pgvector chromium hooks bench clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or pass PYTHON=..." >&2; exit 1; }
	@echo "==> creating $(VENV) and installing (torch CPU first; 1-2 min the first time on an idle machine, longer on a busy one)" >&2
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[airflow,dev]' 2>&1 | $(QUIET_PIP)
	$(BIN)/pip check >/dev/null
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/storyline demo

pgvector:
	@scripts/install-pgvector.sh

# Debian's Chromium for the dashboard's browser tests (Playwright drives it; it downloads none).
chromium:
	@scripts/install-chromium.sh

# Git hooks (.pre-commit-config.yaml): make lint's checks before each commit, and a commit
# subject of at most 72 characters. In a git worktree they go to the repository's shared hooks.
hooks: install
	$(BIN)/pre-commit install

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two processes (pytest-xdist): most tests wait on a subprocess, a browser or a server.
PYTEST_WORKERS ?= 2

pytest: install pgvector chromium
	$(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint pytest

# bench.extract scores what it reads with the extraction benchmark's metric when the shared
# folder beside the clone has it; without its pages there it says so and skips.
AEB_METRIC := ../shared/tools/aeb_score.py

bench: install
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.extract $(if $(wildcard $(AEB_METRIC)),--metric $(AEB_METRIC))
	$(BIN)/python -m bench.embed
	$(BIN)/python -m bench.entities
	$(BIN)/python -m bench.cluster --sizes 2000,10000
	$(BIN)/python -m bench.older --stories 2000,20000
	$(BIN)/python -m bench.dags --db sqlite
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.search

clean:
	rm -rf $(VENV) storyline.db storyline.db-shm storyline.db-wal storyline.db.lock
