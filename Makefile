# wijkbot — `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export RASA_TELEMETRY_ENABLED := false
# TensorFlow's deterministic kernels: the same data and config.yml train the same model (without it, two
# trainings on 2 cores differed by up to 4 held-out examples; see nlu/README.md)
export TF_DETERMINISTIC_OPS := 1
export PYTHONDONTWRITEBYTECODE :=

VENV      := .venv
RASA_VENV := .venv-rasa
PY        := $(VENV)/bin/python
UV        := $(VENV)/bin/uv
RASA      := $(RASA_VENV)/bin/rasa
MODEL     := var/models/wijkbot.tar.gz
RASA_SRC  := config.yml $(wildcard domain/*.yml) $(wildcard nlu/*.yml) $(wildcard dialogue/*.yml) nlu/generated/places.yml
UV_VERSION := 0.13.9

.PHONY: help setup browser run test test-year-ahead lint format train validate nlu-report bench lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup: $(VENV)/.ready $(RASA_VENV)/.ready  ## create both environments (quick when nothing changed)

$(VENV)/.ready: requirements/app.lock pyproject.toml
	@py=$$(scripts/find-python 3.11) || exit 1; \
	  [ -x $(PY) ] || $$py -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync --quiet --compile-bytecode -p $(PY) requirements/app.lock
	$(UV) pip install --quiet --compile-bytecode -p $(PY) --no-deps -e .
	@touch $@

$(RASA_VENV)/.ready: requirements/rasa.lock | $(VENV)/.ready
	@py=$$(scripts/find-python 3.10) || exit 1; \
	  [ -x $(RASA_VENV)/bin/python ] || $(UV) venv --quiet -p $$py $(RASA_VENV)
	$(UV) pip sync --quiet --compile-bytecode -p $(RASA_VENV)/bin/python requirements/rasa.lock
	@# Rasa imports the project's own pipeline components (nlu_components/) from this checkout
	@$(RASA_VENV)/bin/python -c 'import sys, sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()["purelib"], "wijkbot-checkout.pth").write_text(sys.argv[1] + "\n")' "$(CURDIR)"
	@touch $@

nlu/generated/places.yml: wijkbot/data/municipalities.yaml wijkbot/data/profiles.yaml wijkbot/nlu_lookup.py | $(VENV)/.ready
	$(PY) -m wijkbot.nlu_lookup $@

train: $(MODEL)  ## train the Rasa model (skipped when its sources did not change)

$(MODEL): $(RASA_SRC) | $(RASA_VENV)/.ready
	@mkdir -p var/models
	$(RASA) train --config config.yml --domain domain --data nlu dialogue --out var/models --fixed-model-name wijkbot
	@touch $@

validate: nlu/generated/places.yml | $(RASA_VENV)/.ready  ## check the Rasa training data and domain
	$(RASA) data validate --config config.yml --domain domain --data nlu dialogue --fail-on-warnings

lint: | $(VENV)/.ready  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: | $(VENV)/.ready
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The web workspace's browser tests drive Debian's Chromium (/usr/bin/chromium) through Playwright; Playwright's
# own browser download is never used. As root with apt-get it is installed when missing; otherwise say how.
CHROMIUM ?= /usr/bin/chromium
browser:  ## Debian's Chromium for the browser tests (installed with apt-get as root when missing)
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
	    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || exit 1; \
	else \
	  echo "make: the browser tests need Chromium at $(CHROMIUM). Install it (Debian/Ubuntu: sudo apt-get install chromium)," >&2; \
	  echo "      or point CHROMIUM=/path/to/chromium and WIJKBOT_CHROMIUM at another Chromium build." >&2; exit 1; \
	fi

test: setup browser lint validate train  ## everything CI runs: set-up, lint, data validation, all tests
	WIJKBOT_CHROMIUM=$(CHROMIUM) $(PY) -m pytest

# The same tests with the calendar moved ahead (a year by default) in every Python process: a test that
# mixes a pinned date with the real one fails here (scripts/year_ahead/sitecustomize.py). time-machine is
# put into both environments for this run only; `make setup` takes it out again when the locks change.
YEAR_AHEAD_DAYS ?= 365
test-year-ahead: setup browser lint validate train  ## all tests with the calendar a year ahead (YEAR_AHEAD_DAYS)
	$(UV) pip install --quiet -p $(PY) time-machine==3.5.1
	$(UV) pip install --quiet -p $(RASA_VENV)/bin/python time-machine==3.5.1
	WIJKBOT_YEAR_AHEAD_DAYS=$(YEAR_AHEAD_DAYS) PYTHONPATH=$(CURDIR)/scripts/year_ahead $(PY) -c \
	  'import datetime; print("calendar for the tests:", datetime.date.today())'
	WIJKBOT_YEAR_AHEAD_DAYS=$(YEAR_AHEAD_DAYS) PYTHONPATH=$(CURDIR)/scripts/year_ahead $(PY) -m pytest

run: setup train  ## start Rasa, the action server and the bot (terminal chat without TELEGRAM_BOT_TOKEN)
	$(VENV)/bin/wijkbot run

# Outside texts to score as well (nlu-report, bench): OUTSIDE=path/to/file.yaml; the project's design folder's
# data/outside/dev.yaml when it is there, nothing otherwise.
OUTSIDE ?= $(wildcard ../shared/data/outside/dev.yaml)

nlu-report: setup train  ## held-out intent accuracy and postcodes; with OUTSIDE=file also recall on outside texts
	$(PY) -m bench.nlu_report $(if $(OUTSIDE),--outside $(OUTSIDE))

bench: setup train  ## measure the stack; writes bench/results/latest.json (never fails on speed); OUTSIDE=file too
	$(PY) -m bench $(if $(OUTSIDE),--outside $(OUTSIDE))

lock:  ## re-resolve the locked dependency sets after editing requirements/*.in
	$(UV) pip compile --quiet --python-version 3.11 requirements/app.in -o requirements/app.lock
	$(UV) pip compile --quiet --python-version 3.10 requirements/rasa.in -o requirements/rasa.lock

clean:  ## remove environments, models and local data
	rm -rf $(VENV) $(RASA_VENV) var nlu/generated .mypy_cache .ruff_cache .pytest_cache
