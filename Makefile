# One command each for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_WORKERS ?= 2
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: install run test lint bench fuzz worker migrate clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py collectstatic --noinput -v0
	PORT=$(PORT) $(PY) manage.py seed_demo
	$(PY) manage.py serve 127.0.0.1:$(PORT)

# A process takes no more messages than it has threads (dramatiq's default prefetch is twice that),
# so a run's few, long messages spread over the processes; and a busy process looks for the next
# message every 100 ms at most (dramatiq's default backs off to a second, which a freed thread waits).
# 4 threads x 4 targets a message: 16 traces under way in a process, for its judge calls in flight
# (benchmarks/README.md: with 8 threads, a run's first 32 traces a process all read the database
# before any of them called the judge).
worker: install
	dramatiq_queue_prefetch=4 dramatiq_worker_timeout=100 $(PY) manage.py rundramatiq --processes 2 --threads 4

lint: install
	$(VENV)/bin/ruff check .

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Schemathesis on every operation of /openapi.json, many examples each (make test runs it briefly).
FUZZ_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
FUZZ_MAX_EXAMPLES ?= 100
fuzz: install
	DATABASE_URL=$(FUZZ_DATABASE_URL) FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) \
		FUZZ_PHASES=examples,coverage,fuzzing,stateful FUZZ_TIMEOUT_SECONDS=7200 \
		$(PY) -m pytest -q -s -p no:logging tests/test_fuzz_openapi.py $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles
