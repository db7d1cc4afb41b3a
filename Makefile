# courtwatch set-up and everyday commands. Two of them do everything on a
# fresh machine: `make demo` (set-up, demo data, the pipeline) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
BOOT := .cache/bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
export GX_ANALYTICS_ENABLED := false

.PHONY: setup venv secrets jars demo generate run airflow sql-server test lock clean

setup: venv secrets jars

# uv installs from the committed lock in seconds; it is itself pinned.
$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

$(VENV)/.installed: requirements/main.lock pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(PY) requirements/main.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# Secrets are generated here, never committed (.secrets/ is git-ignored):
# the personal-data hashing key and Airflow's API secrets. Existing ones are kept.
secrets: $(VENV)/.installed
	$(PY) -c "from courtwatch.config import ensure_secrets; ensure_secrets()"

# Spark fetches the Delta jars from Maven Central once, into .cache/ivy.
jars: .cache/ivy/.fetched
.cache/ivy/.fetched: | $(VENV)/.installed
	$(PY) -c "from courtwatch.config import load_profile; from courtwatch.spark import spark_session; \
	spark_session(load_profile('test'), 'courtwatch-setup').stop()"
	touch $@

# The demo: a fresh landing zone of the small profile (and a fresh warehouse),
# then the whole pipeline on it.
DEMO_DAYS ?= 60
generate: setup
	rm -rf data/landing data/warehouse data/outbox
	$(VENV)/bin/courtwatch generate --profile small --days $(DEMO_DAYS) --incidents 6 --faults 0.002

run: setup
	$(VENV)/bin/courtwatch run

demo: generate run

# Airflow (scheduler, API server and UI on http://127.0.0.1:8080, DAG processor,
# triggerer) with the DAGs in dags/, SQLite metadata in data/airflow/. The
# admin password is in data/airflow/simple_auth_manager_passwords.json.generated.
airflow: setup
	$(VENV)/bin/courtwatch airflow db migrate
	$(VENV)/bin/courtwatch airflow standalone

# The SQL endpoint (Spark Thrift Server) on 127.0.0.1:10001, every table named.
sql-server: setup
	$(VENV)/bin/courtwatch sql-server

test: setup
	$(PY) -m pytest

lock: | $(UV)
	$(UV) pip compile --quiet --python-version 3.11 requirements/main.in -o requirements/main.lock

clean:
	rm -rf data spark-warehouse metastore_db derby.log
