# The verbs a data engineer needs. Every target sets up .venv (pinned requirements) on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
N ?= 50000
SEED ?= 42

export PYTHONPATH := $(CURDIR)
# airflow standalone starts its components as `airflow …` subprocesses: they must find the venv's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__API__EXPOSE_CONFIG := False
export GX_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv airflow-db demo test test-browser chromium test-distributed test-package sources-reference wheel lint docs docs-serve airflow airflow-celery api bench bench-scale seed db-stop clean bench-identity

help:
	@echo "make demo     run the migration (dry, then real) and a nightly import on the embedded PostgreSQL"
	@echo "make test     run the test suite (embedded PostgreSQL; also GENASCOPE_TEST_DATABASE_URL if set)"
	@echo "make test-browser  the UI end to end in Debian's chromium (Playwright) against a real airflow standalone"
	@echo "make airflow  start airflow standalone with this project's DAGs"
	@echo "make airflow-celery  a CeleryExecutor deployment on this machine (Redis, two workers); Ctrl-C stops it"
	@echo "make test-distributed  migration, import and rollback dry run through that deployment on S3 (moto)"
	@echo "make api      serve the patient intake API on http://127.0.0.1:8000 (OpenAPI docs at /docs)"
	@echo "make test-package  build the wheel, install it with requirements/runtime.txt only into a fresh venv, check DAGs + plugin (~3 min)"
	@echo "make wheel    build the installable package into dist/ (the Dockerfile installs it)"
	@echo "make sources-reference  regenerate the clinic sources' JSON Schema and docs/reference/clinic-sources.md"
	@echo "make lint     ruff (with AIR rules) + squawk on the generated migration SQL"
	@echo "make docs     the documentation site (mkdocs --strict) into .docs-site/; make docs-serve serves it"
	@echo "make bench    benchmarks (writes BENCHMARKS.md)"
	@echo "make bench-scale  the backfill at 300k, 1M and 3M invites (its section of BENCHMARKS.md; ~30 min)"
	@echo "make seed N=… write N synthetic legacy invites into the app database"
	@echo "make db-stop  stop the embedded PostgreSQL"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# Airflow metadata DB (SQLite under .airflow/) + airflow_settings.yaml (connection, pool, variables).
airflow-db: venv
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -20 $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	$(BIN)/python -m include.tools.airflow_settings

demo: airflow-db
	$(BIN)/python -m include.tools.demo --invites $(N) --seed $(SEED)

# --dist loadfile: a module's tests share one worker, so a module-scoped fixture (an Airflow DAG run,
# the e2e benchmark) runs once. (--dist loadgroup does not group with pytest 9.2 + xdist 3.8: xdist
# tags the old Item._nodeid, which pytest 9 no longer reads.)
test: venv
	$(BIN)/python -m pytest -n 2 --dist loadfile --ignore=tests/browser $(PYTEST_ARGS)

# Debian's chromium for the browser test (Playwright drives it; it never downloads a browser of its own).
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# The UI end to end: a real `airflow standalone` on 127.0.0.1 (own AIRFLOW_HOME), driven in chromium.
test-browser: venv chromium
	$(BIN)/python -m pytest tests/browser -n 0 -p no:cacheprovider $(PYTEST_ARGS)

# The DAGs through `make airflow-celery`'s deployment, each worker in its own mount namespace, landing and
# runs root on a moto S3 server on 127.0.0.1 (needs Redis at 127.0.0.1:6379 and root; ~6 min).
test-distributed: venv
	GENASCOPE_DISTRIBUTED_TEST=1 $(BIN)/python -m pytest tests/distributed -n 0 -p no:cacheprovider $(PYTEST_ARGS)

# What the Dockerfile does, without Docker: the wheel + runtime requirements in a fresh venv (uv, cached
# downloads), dags/ and plugins/ copied elsewhere, no PYTHONPATH: no import errors, the plugin loaded.
test-package: venv
	env -u PYTHONPATH ./.ci/package-test

wheel: venv
	$(BIN)/python -m build --wheel --outdir dist .
	rm -rf build *.egg-info

sources-reference: venv
	$(BIN)/python -m include.tools.sources_reference

lint: venv
	$(BIN)/ruff check .
	$(BIN)/python -m include.tools.sql_lint

# The docs site (mkdocs.yml, pages in docs/): strict, so a broken link, a missing page or a stale
# configuration reference (python -m include.tools.config_reference) fails the build.
docs: venv
	$(BIN)/python -m include.tools.config_reference --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

# The API server (UI) and the log servers listen on 127.0.0.1 only; umask 077: everything Airflow writes under its home
# (the generated admin password, airflow.cfg with its secret keys, logs, the SQLite DB) is owner-only.
AIRFLOW_PASSWORDS := $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated
airflow: airflow-db
	$(BIN)/python -m include.imports.demo_support
	chmod 700 $(AIRFLOW_HOME)
	(umask 077; touch $(AIRFLOW_PASSWORDS)); chmod 600 $(AIRFLOW_PASSWORDS)
	@echo "Airflow UI: http://127.0.0.1:8080  (user admin; password in $(AIRFLOW_PASSWORDS), mode 0600)"
	@$(BIN)/python -m include.tools.airflow_local paused
	@echo "Log servers (worker, triggerer) listen on 127.0.0.1 only (include/tools/airflow_local.py)."
	@# Tasks never start the embedded PostgreSQL themselves (include/core/db.py): hand them its address.
	@# include.tools.airflow_local = `airflow standalone` with the log servers bound to 127.0.0.1.
	umask 077; AIRFLOW__API__HOST=127.0.0.1 \
		AIRFLOW_CONN_GENASCOPE_DB="$${AIRFLOW_CONN_GENASCOPE_DB:-$$($(BIN)/python -m include.cli embedded-uri)}" \
		$(BIN)/python -m include.tools.airflow_local

# CeleryExecutor on this machine: Redis broker, metadata DB on the PostgreSQL server (else the embedded
# one), scheduler, dag-processor, triggerer, api-server on 127.0.0.1:8090, two workers in their own mount
# namespaces; by default an S3-compatible server (moto) on 127.0.0.1 holds the landing (the sample
# clinics) and the runs root. CELERY_ARGS="--landing-root s3://… --runs-root s3://…" for your own bucket.
CELERY_ARGS ?= --moto
airflow-celery: venv
	$(BIN)/python -m include.distributed.celery_stack up $(CELERY_ARGS)

# The patient intake API (include/api/): uvicorn on 127.0.0.1:8000, docs at /docs. Keys: python -m include.cli api-key.
api: venv
	$(BIN)/python -m include.api --host 127.0.0.1 --port 8000

bench: airflow-db
	$(BIN)/python -m include.bench $(BENCH_ARGS)

bench-scale: venv
	$(BIN)/python -m include.bench.scale_bench $(BENCH_ARGS)

seed: venv
	$(BIN)/python -m include.seed --invites $(N) --seed $(SEED)

db-stop: venv
	$(BIN)/python -m include.cli db-stop

clean: db-stop
	rm -rf .airflow runs

# The matcher's evaluation and its 1M-patient full / 10k incremental passes (BENCHMARKS.md "Identity";
# ~20-30 min; run alone). Smaller: BENCH_ARGS="--patients 100000".
bench-identity: venv
	$(BIN)/python -m include.bench.identity_bench $(BENCH_ARGS)
