# The two commands: `make local` + `make run`, and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION ?= 0.13.8
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV := .venv
PY := $(VENV)/bin/python
GENERATED := app/grpc/generated

.PHONY: help env proto local local-down mail run worker relay courier migrate admin test test-unit test-contract test-integration lint buf-breaking format docs docs-serve bench outages clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	@$(UV) sync --frozen --quiet
	@echo "environment: $(VENV) matches uv.lock"
	@touch $@

env: $(VENV)/.synced ## Create the virtual environment from the lock file

proto: env ## Regenerate the Python code from proto/
	PATH=$(VENV)/bin:$$PATH $(PY) -m grpc_tools.protoc -Iproto \
		--python_out=$(GENERATED) --grpc_python_out=$(GENERATED) \
		--mypy_out=$(GENERATED) --mypy_grpc_out=$(GENERATED) \
		--connectrpc_out=$(GENERATED) --connectrpc_opt=protobuf=google proto/user_service.proto
	sed -i 's/^import user_service_pb2 as/from . import user_service_pb2 as/' $(GENERATED)/user_service_pb2_grpc.py $(GENERATED)/user_service_pb2_grpc.pyi

local: env ## Start PostgreSQL, Redis, Prometheus, a mail sink; with Docker also Jaeger, Grafana, Mailpit (else native binaries)
	$(PY) scripts/local_stack.py up

local-down: env ## Stop what `make local` started
	$(PY) scripts/local_stack.py down

# TOTP secrets on a developer's machine are sealed under this fixed, public key
# (docs/second-factor.md); APP_MFA__ENCRYPTION_KEYS in the environment wins.
# Never use it anywhere else.
LOCAL_MFA_KEYS := {"local": "bG9jYWwgZGV2ZWxvcG1lbnQgb25seTsgcHVibGljISE="}
run admin: export APP_MFA__ENCRYPTION_KEYS ?= $(LOCAL_MFA_KEYS)

# Mail goes to the local sink `make local` starts (Mailpit, or .local/mail/ without
# Docker; docs/mail.md); APP_MAIL__SMTP_URL in the environment wins.
LOCAL_SMTP_URL := smtp://127.0.0.1:1025
run courier: export APP_MAIL__SMTP_URL ?= $(LOCAL_SMTP_URL)

# Migrating creates the database of the default DSN when it is missing; a DSN
# chosen in the environment must name an existing database (a typo must not
# become an empty one) unless APP_POSTGRES__CREATE_DATABASE=true says otherwise.
ifeq ($(origin APP_POSTGRES__DSN),undefined)
run worker relay courier migrate admin: export APP_POSTGRES__CREATE_DATABASE ?= true
endif

mail: env ## Print the newest message the local mail sink kept (.local/mail/); Mailpit: http://127.0.0.1:8025
	@$(PY) scripts/local_mail.py latest

run: env ## Serve gRPC on :5000 and HTTP/JSON on :8080 (migrates first; starts servers only for the default addresses); Ctrl-C stops
	$(PY) scripts/local_stack.py ensure
	$(PY) -m app serve

worker: env ## Run the audit-log worker (user events → user_audit_log); /metrics on :7071
	$(PY) scripts/local_stack.py ensure
	APP_METRICS__PORT=$${APP_METRICS__PORT:-7071} $(PY) -m app worker

relay: env ## Run the outbox relay on its own (outbox → events stream); /metrics on :7072
	$(PY) scripts/local_stack.py ensure
	APP_METRICS__PORT=$${APP_METRICS__PORT:-7072} $(PY) -m app relay

courier: env ## Run the mail courier on its own (queued mail → SMTP); /metrics on :7073
	$(PY) scripts/local_stack.py ensure
	APP_METRICS__PORT=$${APP_METRICS__PORT:-7073} $(PY) -m app courier

migrate: env ## Apply migrations (creating the default database if missing), then exit
	$(PY) scripts/local_stack.py ensure
	$(PY) -m app migrate

admin: env ## Make EMAIL an admin (creates the user; password from a prompt or stdin)
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=you@example.com" >&2; exit 2; }
	$(PY) scripts/local_stack.py ensure
	$(PY) -m app admin create --email "$(EMAIL)"

test: env ## Run the whole suite against real PostgreSQL and Redis
	$(PY) scripts/local_stack.py ensure
	$(PY) -m pytest

test-unit: env ## Run the unit tests only (no PostgreSQL or Redis needed)
	$(PY) -m pytest tests/unit

test-contract: env ## Run the contract tests only (each fake and its real adapter, one contract)
	$(PY) scripts/local_stack.py ensure
	$(PY) -m pytest tests/contract

test-integration: env ## Run the integration tests only
	$(PY) scripts/local_stack.py ensure
	$(PY) -m pytest tests/integration

lint: env ## ruff, mypy, buf (lint, format, breaking), hadolint (Dockerfile), kubernetes-validate (offline)
	$(VENV)/bin/ruff check app tests scripts bench
	$(VENV)/bin/ruff format --check app tests scripts bench
	$(VENV)/bin/mypy
# The benchmarks are scripts that import each other by file name (bench/ on the path).
	MYPYPATH=bench $(VENV)/bin/mypy --explicit-package-bases bench/*.py
	$(VENV)/bin/buf lint
	$(VENV)/bin/buf format --diff --exit-code
	$(MAKE) --no-print-directory buf-breaking
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/kubernetes-validate --strict --quiet $(filter-out %/kustomization.yaml,$(wildcard deploy/kubernetes/*.yaml))

# Against the Go service's contract and the last landed one (main's, or HEAD~1 on
# main itself, as in CI's clone): scripts/check_contract.py says why.
buf-breaking: env ## buf breaking: proto/ against the contracts it must keep
	$(PY) scripts/check_contract.py

# The references are rendered from the code at build (scripts/docs_hooks.py).
docs: env ## Build the docs site strictly into site/ (a broken link, anchor or page fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

docs-serve: env ## Serve the docs site on 127.0.0.1:8000, rebuilt on every change
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8000

format: env ## Format the code
	$(VENV)/bin/ruff format app tests scripts bench
	$(VENV)/bin/ruff check --fix app tests scripts bench

clean: ## Remove the environment and local data
	rm -rf $(VENV) .local site .pytest_cache .mypy_cache .ruff_cache

outages: env ## Outage detection and recovery times on throwaway Redis and PostgreSQL
	$(PY) bench/bench_outages.py

bench: env h2load ## Run every bench/bench_*.py: ratios against baselines measured in the same run
	$(PY) scripts/local_stack.py ensure
	@set -e; for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script; done

# The benchmarks' short form (CI): every one runs end to end in a tiny configuration, so none
# rots between `make bench` runs; what it prints measures nothing.
BENCH_SMOKE := BENCH_SECONDS=1 BENCH_REPEAT=1 BENCH_IN_FLIGHT=8 BENCH_CALLS=40 \
	BENCH_EVENTS=200 BENCH_FLOOD_SECONDS=1 BENCH_CAPACITY_USERS=10 BENCH_WORKERS=2 \
	BENCH_CONNECTIONS=4 BENCH_FAILOVER_SECONDS=6 BENCH_FAILOVER_KILL_AFTER=2 \
	BENCH_FAILOVER_RATE=50 BENCH_FAILOVER_PARTITIONS=3 \
	OUTAGE_HEALTHY_SECONDS=0.5 OUTAGE_SECONDS=1.5 OUTAGE_RECOVERY_SECONDS=2

.PHONY: bench-smoke
bench-smoke: env h2load ## Every bench/bench_*.py once in a tiny form (CI): each still runs; no figures
	$(PY) scripts/local_stack.py ensure
	@set -e; for script in bench/bench_*.py; do echo "== $$script (short form)"; \
		$(BENCH_SMOKE) timeout 600 $(PY) $$script; done

.PHONY: h2load
h2load: ## The load generator of the service benchmarks (Debian nghttp2-client)
	@command -v h2load >/dev/null || apt-get install -y nghttp2-client >/dev/null 2>&1 \
		|| echo "h2load not installed (apt-get install nghttp2-client): bench_service uses its Python client"

.PHONY: bench-cpu
bench-cpu: env h2load ## Server CPU per call against the bare gRPC no-op, short (BENCH_SECONDS=2, once)
	$(PY) scripts/local_stack.py ensure
	BENCH_CPU_ONLY=1 BENCH_SECONDS=$${BENCH_SECONDS:-2} BENCH_REPEAT=$${BENCH_REPEAT:-1} $(PY) bench/bench_service.py

.PHONY: soak
soak: env ## Soak: 64 callers for 60 s against the service as production runs it; no errors, flat memory
	$(PY) scripts/local_stack.py ensure
	$(PY) bench/soak.py
