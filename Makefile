# paystream — `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The interpreter .venv is made from; empty: Debian's optimised python3.11 (deploy/local/python.sh says why)
PYTHON_BASE ?=
VENV        ?= .venv
PY          := $(VENV)/bin/python
PAYSTREAM   := $(VENV)/bin/paystream
STACK       := PYTHON=$(abspath $(PY)) deploy/local/stack.sh
INSTALLED   := $(VENV)/.installed
DEMO_COUNT  ?= 100000

.PHONY: help install redis-module lint up down status test test-unit test-integration test-e2e demo bench-state \
        validate-deploy train evaluate evaluate-history bench-fraud bench-sinks bench-worker migrate loadtest loadtest-all bench bench-quick bench-api

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# native/avro: the compiled Avro bodies (Rust, built by maturin with the machine's cargo, rustup's
# in ~/.cargo/bin first; deploy/local/rust.sh installs Debian's if there is none).
NATIVE_AVRO := native/avro/Cargo.toml native/avro/Cargo.lock native/avro/pyproject.toml $(wildcard native/avro/src/*.rs) native/avro/paystream_avro.pyi

$(INSTALLED): pyproject.toml $(NATIVE_AVRO) deploy/local/python.sh deploy/local/apt_install.sh
	deploy/local/python.sh $(VENV) $(PYTHON_BASE)
	$(PY) -m pip install --quiet --upgrade pip
	deploy/local/rust.sh
	PATH="$$HOME/.cargo/bin:$$PATH" $(PY) -m pip install --quiet -e '.[dev]' ./native/avro
	touch $@

install: $(INSTALLED)  ## create .venv and install paystream with its dependencies

# native/redis: PAYSTREAM.COMMIT and PAYSTREAM.FANIN, agents/commit.lua and fanin.lua compiled as
# a Redis module (C, gcc only).
# The local stack's account-state Redis loads it when it is built (deploy/local/stack_servers.py).
REDIS_MODULE := native/redis/build/paystream.so

$(REDIS_MODULE): native/redis/paystream.c native/redis/redismodule.h
	@command -v gcc >/dev/null || deploy/local/apt_install.sh gcc libc6-dev
	mkdir -p $(@D)
	gcc -O2 -fPIC -shared -std=gnu99 -Wall -Wextra -Wno-unused-parameter -Werror -o $@ $<

redis-module: $(REDIS_MODULE)  ## build paystream's Redis module (the workers' compiled commit)

up: $(INSTALLED) $(REDIS_MODULE)  ## start Kafka, PostgreSQL and Redis on 127.0.0.1 (installs what is missing)
	$(STACK) up

down:  ## stop what `make up` started (and the local Redis Cluster, if `make redis-cluster` started one)
	$(STACK) down
	@[ ! -d .local/redis-cluster ] || $(PY) deploy/local/redis_cluster.py down --dir .local/redis-cluster

status:  ## show what runs
	$(STACK) status

# Offline checks of deploy/compose and deploy/k8s: schemas (vendored, deploy/schemas) and checkov.
# kustomize comes from the Go module proxy, checkov from PyPI into a venv of its own (its pins
# would fight ours), both under .local/tools.
KUSTOMIZE := .local/tools/bin/kustomize
CHECKOV   := .local/tools/checkov/bin/checkov
GO        ?= $(shell command -v go || echo /usr/local/go/bin/go)

$(KUSTOMIZE):
	@test -x "$(GO)" || { echo "validate-deploy: needs Go (go install of kustomize); none at $(GO)"; exit 1; }
	GOBIN=$(CURDIR)/.local/tools/bin GOFLAGS=-mod=mod $(GO) install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0

$(CHECKOV): $(INSTALLED)
	$(PY) -m venv .local/tools/checkov
	.local/tools/checkov/bin/pip install --quiet "checkov==3.2.*"

test: up validate-deploy  ## run every test against the local stack (and validate-deploy)
	$(PY) -m pytest -q --durations=10 tests

validate-deploy: $(INSTALLED) $(KUSTOMIZE) $(CHECKOV)  ## compose and Kubernetes files against their schemas, then checkov
	$(PY) deploy/validate.py
	rm -rf .local/tools/rendered && mkdir -p .local/tools/rendered
	for overlay in deploy/k8s/overlays/*/; do \
	  $(KUSTOMIZE) build $$overlay > .local/tools/rendered/$$(basename $$overlay).yaml || exit 1; done
	cp Dockerfile .local/tools/rendered/
	$(CHECKOV) --config-file deploy/checkov.yaml -d .local/tools/rendered

# Shell at warning level: its info notes flag `A && B || die`, which the scripts use on purpose.
SHELL_SCRIPTS := $(shell git ls-files '*.sh' ':!loadtest/results') .ci/run

lint: $(INSTALLED)  ## ruff, mypy and shellcheck (run by .ci/run; shellcheck comes with `make up`)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	@command -v shellcheck >/dev/null || { echo "lint: shellcheck missing; \`make up\` installs it"; exit 1; }
	shellcheck -S warning $(SHELL_SCRIPTS)

test-unit: $(INSTALLED)  ## unit tests only (no servers)
	$(PY) -m pytest -q tests/unit

test-integration: up  ## integration tests only
	$(PY) -m pytest -q tests/integration

test-e2e: up  ## end-to-end tests only (crash and rebalance runs, a few minutes)
	$(PY) -m pytest -q tests/e2e

bench-state: up  ## compare account-state options (Redis, Kafka transactions, Faust tables), 100k transactions each
	for option in redis kafka-txn faust-own-changelog faust-rocksdb faust-baseline; do \
	  $(PY) -m loadtest.state_bench --option $$option --transactions 100000 --accounts 50000; done

train: $(INSTALLED)  ## train a fraud model on generated traffic (seeds 1-4), written to models/
	$(PAYSTREAM) train

evaluate: up  ## held-out traffic (seed 99) through two workers at 500/s: stream vs offline detection
	PAYSTREAM=$(PAYSTREAM) deploy/local/evaluate.sh

evaluate-history: up  ## another simulator's 60 days as your history: train, warm, label, stream its test period, score
	PAYSTREAM=$(PAYSTREAM) PY=$(PY) deploy/local/evaluate_history.sh

bench-fraud: up  ## what fraud scoring costs: per stage in-process, and inside a worker (model on/off)
	@ls -d models/fraud-v*/ >/dev/null 2>&1 || $(PAYSTREAM) train
	$(PY) -m loadtest.fraud_bench stages --transactions 60000
	$(PY) -m loadtest.fraud_bench worker --transactions 100000

bench-sinks: up  ## sink throughput: rows/s and CPU per row of each sink and its store, webhook deliveries/s per core; 100k transactions
	$(PY) -m loadtest.sink_bench --transactions 100000

bench-worker: up  ## one worker draining 100k alone: CPU per transaction of the worker and its Redis (REPO=dir: another checkout's worker; TRAFFIC_REPO=dir: whose producer writes the backlog; AFTER=n: measured after n more, past the traffic's opening)
	@ls -d models/fraud-v*/ >/dev/null 2>&1 || $(PAYSTREAM) train
	$(PY) -m loadtest.worker_bench --transactions 100000 $(if $(REPO),--repo $(REPO)) $(if $(TRAFFIC_REPO),--traffic-repo $(TRAFFIC_REPO)) $(if $(AFTER),--after $(AFTER))

bench-worker-cluster: up redis-cluster  ## the same, its account state on the local 3-master Redis Cluster (REDIS_CLUSTER=true)
	@ls -d models/fraud-v*/ >/dev/null 2>&1 || $(PAYSTREAM) train
	$(PY) -m loadtest.worker_bench --transactions 100000 --redis-cluster .local/redis-cluster

redis-cluster: $(INSTALLED)  ## start a local Redis Cluster of three masters (127.0.0.1:17001-17003, state in .local/redis-cluster)
	$(PY) deploy/local/redis_cluster.py up --dir .local/redis-cluster

redis-cluster-down:  ## stop the local Redis Cluster
	$(PY) deploy/local/redis_cluster.py down --dir .local/redis-cluster

bench: up  ## the whole pipeline end to end: 1M transactions at max rate, then 60 s at 70% of that rate; CPU vs the run's floor; loadtest/results/latest.*
	$(PY) -m loadtest.bench $(BENCH_ARGS)

bench-quick: up  ## the same benchmark as a smoke run (20k transactions, 10 s at 2,000/s): loadtest/results/quick.*
	$(PY) -m loadtest.bench --quick $(BENCH_ARGS)

migrate: up  ## apply the sinks' PostgreSQL migrations (idempotent)
	$(PAYSTREAM) db migrate

SCENARIO ?= steady
RUN_S ?= 60
loadtest: up  ## one bounded Locust scenario (SCENARIO=steady|ramp|spike|hot_accounts|fraud_burst, RUN_S=60)
	SCENARIO=$(SCENARIO) RUN_S=$(RUN_S) PAYSTREAM=$(PAYSTREAM) deploy/local/loadtest.sh

SCENARIOS := steady ramp spike hot_accounts fraud_burst
loadtest-all: up  ## every Locust scenario in turn, RUN_S each (CSV and HTML in loadtest/results/)
	for scenario in $(SCENARIOS); do \
	  SCENARIO=$$scenario RUN_S=$(RUN_S) PAYSTREAM=$(PAYSTREAM) deploy/local/loadtest.sh || exit 1; done

demo: up  ## start the stack, train a model if none, run traffic through two workers, reconcile, evaluate
	DEMO_COUNT=$(DEMO_COUNT) PAYSTREAM=$(PAYSTREAM) deploy/local/demo.sh

bench-api: up  ## the analysts' API under Locust on a 10M-transaction store (loaded once by COPY, kept in schema bench_api): per-endpoint p95/p99, EXPLAIN of every query; loadtest/results/api-bench.*
	$(PY) -m loadtest.api_bench $(BENCH_API_ARGS)
