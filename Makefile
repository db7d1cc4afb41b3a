# courtwatch set-up and everyday commands. Two of them do everything on a
# fresh machine: `make demo` (set-up, demo data, the pipeline, dashboards up) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
BOOT := .cache/bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
export GX_ANALYTICS_ENABLED := false

.PHONY: setup venv superset-venv browser directory sql-endpoint-jar sql-endpoint-account secrets jars demo generate run up down airflow sql-server superset cluster cluster-down test test-fast lock clean

setup: venv superset-venv browser directory secrets jars sql-endpoint-jar sql-endpoint-account

# uv installs from the committed lock in seconds; it is itself pinned. It writes no
# bytecode unless asked, and where PYTHONDONTWRITEBYTECODE is set (this machine, CI)
# Python never writes it either: every process (a command, an Airflow task, Superset)
# then compiled every module it imports from source, ~1.5 s of a `courtwatch` start.
$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

$(VENV)/.installed: requirements/main.lock pyproject.toml | $(UV) directory
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements/main.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# Superset pins SQLAlchemy < 2 and pandas < 2.2: its own environment, its own lock.
SUPERSET_VENV := .venv-superset
$(SUPERSET_VENV)/.installed: requirements/superset.lock | $(UV) directory
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(SUPERSET_VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(SUPERSET_VENV)/bin/python requirements/superset.lock
	touch $@

superset-venv: $(SUPERSET_VENV)/.installed

# Headless Chromium renders the dashboards in the tests (Debian packages: the browser,
# its driver and a Chinese font).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list :lang=zh | grep -q . || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-wqy-zenhei >/dev/null)

# OpenLDAP from Debian: the server (slapd) the directory option's tests start, its
# client tools, and the headers Superset's and Airflow's LDAP client (python-ldap) is built against.
directory:
	@command -v slapd >/dev/null && command -v ldapadd >/dev/null && test -f /usr/include/ldap.h -a -f /usr/include/sasl/sasl.h || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slapd ldap-utils libldap2-dev libsasl2-dev >/dev/null)

# Secrets are generated here, never committed (.secrets/ is git-ignored):
# the personal-data hashing key and Airflow's API secrets. Existing ones are kept.
secrets: $(VENV)/.installed
	$(PY) -c "from courtwatch.settings import ensure_secrets; ensure_secrets()"

# Spark fetches the Delta jars from Maven Central once, into .cache/ivy.
jars: .cache/ivy/.fetched
.cache/ivy/.fetched: | $(VENV)/.installed
	$(PY) -c "from courtwatch.settings import load_profile; from courtwatch.spark_session import spark_session; \
	spark_session(load_profile('test'), 'courtwatch-setup').stop()"
	touch $@

# The SQL endpoint's own classes (courtwatch/java/): its process (SqlEndpoint), its sign-in
# without a directory (the Thrift Server's CUSTOM authentication) and its read-only rule,
# compiled against the Spark and Delta jars of this environment.
SQL_ENDPOINT_JAR := .cache/sql-endpoint/courtwatch-sql-endpoint.jar
sql-endpoint-jar: $(SQL_ENDPOINT_JAR)
$(SQL_ENDPOINT_JAR): $(wildcard courtwatch/java/*.java) | $(VENV)/.installed .cache/ivy/.fetched
	rm -rf .cache/sql-endpoint/classes && mkdir -p .cache/sql-endpoint/classes
	javac -nowarn -d .cache/sql-endpoint/classes -cp "$$($(PY) -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')/jars/*:.cache/ivy/jars/*" $^
	jar cf $@ -C .cache/sql-endpoint/classes .

# The SQL endpoint's unprivileged account (sql.service_account), which root's `courtwatch
# sql-server` becomes after granting it read on silver and gold (POSIX ACLs: Debian's acl).
# Not root: nothing to do, the endpoint runs as whoever starts it.
SQL_ACCOUNT ?= courtwatch-sql
sql-endpoint-account:
	@if [ "$$(id -u)" = 0 ]; then \
	  command -v setfacl >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends acl >/dev/null); \
	  id -u $(SQL_ACCOUNT) >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin $(SQL_ACCOUNT); \
	fi

# The demo: a fresh landing zone of the small profile (and a fresh warehouse),
# then the whole pipeline on it.
DEMO_DAYS ?= 60
generate: setup
	rm -rf data/landing data/warehouse data/outbox
	$(VENV)/bin/courtwatch generate --profile small --days $(DEMO_DAYS) --incidents 6 --faults 0.002

run: setup
	$(VENV)/bin/courtwatch run

# The SQL endpoint and Superset (dashboards, roles, users) in the background on
# http://127.0.0.1:8088, the guidance loop (督办跟踪) on http://127.0.0.1:8090, and the warm
# Spark driver that later `courtwatch run`s and the DAG's tasks run in; `make down` stops
# them. Passwords: .secrets/accounts.env (one per person, the same for both).
up: setup
	$(VENV)/bin/courtwatch superset up
	$(VENV)/bin/courtwatch guidance up
	$(VENV)/bin/courtwatch worker up

down:
	$(VENV)/bin/courtwatch worker down
	$(VENV)/bin/courtwatch guidance down
	$(VENV)/bin/courtwatch superset down

demo: generate run up

# Airflow (scheduler, API server and UI on http://127.0.0.1:8080, DAG processor,
# triggerer) with the DAGs in dags/, SQLite metadata in data/airflow/. The
# operators' passwords are in .secrets/airflow-passwords.json.
airflow: setup
	$(VENV)/bin/courtwatch airflow db migrate
	$(VENV)/bin/courtwatch airflow standalone

# The SQL endpoint (Spark Thrift Server) on 127.0.0.1:10001, every table named.
sql-server: setup
	$(VENV)/bin/courtwatch sql-server

# Superset in the foreground (needs `make sql-server` running for its data).
superset: setup
	$(VENV)/bin/courtwatch superset setup
	$(VENV)/bin/courtwatch superset serve

# A Spark standalone cluster on this machine (master 127.0.0.1:7077, two workers),
# then the pipeline on it: the same jobs, only the profile (conf/cluster.yaml) differs.
cluster: setup
	$(VENV)/bin/courtwatch cluster up
	$(VENV)/bin/courtwatch --conf cluster run

cluster-down:
	$(VENV)/bin/courtwatch cluster down

# Every tier (unit, integration, system: see tests/conftest.py); test-fast is the unit tier alone.
test: setup
	$(PY) -m pytest

test-fast: venv jars
	$(PY) -m pytest -m unit

lock: | $(UV)
	$(UV) pip compile --quiet --python-version 3.11 requirements/main.in -o requirements/main.lock
	$(UV) pip compile --quiet --python-version 3.11 requirements/superset.in -o requirements/superset.lock

clean:
	rm -rf data spark-warehouse metastore_db derby.log
