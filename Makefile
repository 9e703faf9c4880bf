# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install migrate content run test lint format serve worker bench bench-export bench-timing bench-dashboard bench-signing-cpu bench-signing-ab faults messages deploy-check release clean

help:
	@echo "make run     set up .venv, migrate, load the campaign content, serve http://$(HOST):$(PORT)"
	@echo "make test    run the whole test suite (SQLite, or PostgreSQL when DATABASE_URL says so)"
	@echo "make serve   production-like: collectstatic, then gunicorn with gunicorn.conf.py"
	@echo "make worker  send the emails waiting in the outbox (with EMAIL_QUEUE=worker)"
	@echo "make release on a server: checks, migrations, static files, content, graceful reload"
	@echo "make lint    ruff check and format check"
	@echo "make deploy-check  deploy/nginx/ in front of gunicorn, checked over HTTPS on this machine"
	@echo "make messages  extract and compile the translations of every language (needs GNU gettext)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(STAMP)

# A developer's machine runs with DEBUG on; anywhere else DEBUG is off unless the environment
# says so (see the README's configuration). Written once, never overwritten.
.env:
	@printf '%s\n' "# This machine's settings (see the README's configuration). Development only." "DEBUG=True" > $@
	@echo "Wrote .env with DEBUG=True: this checkout is a development machine."

migrate: install .env
	$(BIN)/python manage.py migrate --noinput

content: migrate
	$(BIN)/python manage.py load_campaign_content

run: content
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Production-like on this machine: DEBUG off, hashed and compressed static files, gunicorn.
# Plain HTTP on loopback, so the HTTPS-only settings are switched off here (never in production).
serve: export DEBUG = False
serve: export SECRET_KEY ?= local-serve-only-$(shell hostname)-not-a-production-secret-0123456789
serve: export ALLOWED_HOSTS ?= 127.0.0.1,localhost
serve: export HTTPS ?= False
serve: export SITE_URL ?= http://$(HOST):$(PORT)
serve: export EMAIL_URL ?= consolemail://
# Shared by gunicorn's workers on this one machine; production uses Redis.
serve: export CACHE_URL ?= filecache://$(CURDIR)/.serve-cache
serve: content
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/gunicorn --config gunicorn.conf.py campaign.wsgi

worker: migrate
	$(BIN)/python manage.py send_emails

# A release on a running server, without downtime (the README's "Releasing"): with the new code
# in place, the checks first (a release that fails them changes nothing: they import every
# module the new workers will), then the migrations (written to run while the old code still
# serves), static files, the content, and a graceful reload of gunicorn. The settings come
# from the environment or ENV_FILE (e.g. `make release ENV_FILE=/etc/campaign/campaign.env`);
# RELOAD is how this machine reloads gunicorn, e.g. `RELOAD='kill -HUP $$(cat /run/gunicorn.pid)'`.
# No `install` and no .env here: a server's virtual environment and settings are its own.
RELOAD ?= systemctl reload campaign-web
release: export ENV_FILE ?= $(CURDIR)/.env
release:
	$(BIN)/python manage.py check --deploy --fail-level WARNING
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py load_campaign_content
	$(RELOAD)

# The campaign-peak benchmark: the production form on this machine, results in bench/RESULTS.md.
# Needs PostgreSQL (DATABASE_URL, default the local test database), Redis, wrk and pgbench.
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py

# The fault suite: breaks PostgreSQL, Redis, SMTP and workers under load; results in
# bench/FAULTS.md. Needs root and this machine's PostgreSQL and Redis services.
faults: install
	@command -v age >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq age)
	$(BIN)/python bench/faults.py

# Memory and time of exporting 1,000,000 signatures (needs DATABASE_URL=postgres://...).
bench-export: install
	$(BIN)/python bench/export_memory.py

# The staff dashboard's render time with a million signatures: bench/DASHBOARD.md.
bench-dashboard: install
	$(BIN)/python bench/dashboard.py

# Every language under locale/ (see the README's Translations): extract, then compile.
LOCALES := $(notdir $(wildcard locale/*))
messages: install .env
	$(BIN)/python manage.py makemessages $(addprefix --locale ,$(LOCALES)) --no-obsolete --extension html,txt,py,svg --ignore ".venv/*" --ignore "bench/*" --ignore "*/tests/*"
	$(BIN)/python manage.py compilemessages $(addprefix --locale ,$(LOCALES)) --ignore ".venv/*"

# Instructions one signing costs the web process, under valgrind (bench/SIGNING_CPU.md; needs
# DATABASE_URL=postgres://... of a scratch database, and valgrind).
bench-signing-cpu: install
	@command -v valgrind >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind)
	$(BIN)/python bench/signing_cpu.py

# Signing throughput of an earlier commit (BEFORE=<commit>) against this checkout, in the same
# run, rounds alternating (bench/SIGNING_AB.md; PostgreSQL via DATABASE_URL, and wrk).
bench-signing-ab: install
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python bench/signing_ab.py

# Does signing or asking for a new link take longer for an address that has signed?
# (bench/TIMING.md; needs DATABASE_URL=postgres://...)
bench-timing: install
	$(BIN)/python bench/timing.py

# deploy/nginx/campaign.conf in front of gunicorn on this machine, checked over real HTTPS with a
# throwaway certificate (deploy/check.py). Runs nginx of its own on free loopback ports, never
# the machine's service; installs Debian's nginx when it is missing.
deploy-check: install
	$(BIN)/python deploy/check.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache *.egg-info
