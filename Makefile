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

.PHONY: help venv airflow-db demo test lint airflow api bench seed db-stop clean

help:
	@echo "make demo     run the migration (dry, then real) and a nightly import on the embedded PostgreSQL"
	@echo "make test     run the test suite (embedded PostgreSQL; also GENASCOPE_TEST_DATABASE_URL if set)"
	@echo "make airflow  start airflow standalone with this project's DAGs"
	@echo "make api      serve the patient intake API on http://127.0.0.1:8000 (OpenAPI docs at /docs)"
	@echo "make lint     ruff (with AIR rules) + squawk on the generated migration SQL"
	@echo "make bench    benchmarks (writes BENCHMARKS.md)"
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
	$(BIN)/python -m include.airflow_settings

demo: airflow-db
	$(BIN)/python -m include.demo --invites $(N) --seed $(SEED)

# --dist loadfile: a module's tests share one worker, so a module-scoped fixture (an Airflow DAG run,
# the e2e benchmark) runs once. (--dist loadgroup does not group with pytest 9.2 + xdist 3.8: xdist
# tags the old Item._nodeid, which pytest 9 no longer reads.)
test: venv
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/python -m include.sql_lint

airflow: airflow-db
	$(BIN)/python -m include.imports.demo_support
	@echo "Airflow UI: http://localhost:8080  (user admin; password in $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated)"
	$(BIN)/airflow standalone

# The patient intake API (include/api/): uvicorn on 127.0.0.1:8000, docs at /docs. Keys: python -m include.cli api-key.
api: venv
	$(BIN)/python -m include.api --host 127.0.0.1 --port 8000

bench: airflow-db
	$(BIN)/python -m include.bench $(BENCH_ARGS)

seed: venv
	$(BIN)/python -m include.seed --invites $(N) --seed $(SEED)

db-stop: venv
	$(BIN)/python -m include.cli db-stop

clean: db-stop
	rm -rf .airflow runs
