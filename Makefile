# paystream — `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BASE ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
PAYSTREAM   := $(VENV)/bin/paystream
STACK       := PYTHON=$(abspath $(PY)) deploy/local/stack.sh
INSTALLED   := $(VENV)/.installed
DEMO_COUNT  ?= 100000

.PHONY: help install up down status test test-unit test-integration test-e2e demo bench-state

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	$(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)  ## create .venv and install paystream with its dependencies

up: $(INSTALLED)  ## start Kafka, PostgreSQL and Redis on 127.0.0.1 (installs what is missing)
	$(STACK) up

down:  ## stop what `make up` started
	$(STACK) down

status:  ## show what runs
	$(STACK) status

test: up  ## run every test against the local stack
	$(PY) -m pytest -q --durations=10 tests

test-unit: $(INSTALLED)  ## unit tests only (no servers)
	$(PY) -m pytest -q tests/unit

test-integration: up  ## integration tests only
	$(PY) -m pytest -q tests/integration

test-e2e: up  ## end-to-end tests only (crash and rebalance runs, a few minutes)
	$(PY) -m pytest -q tests/e2e

bench-state: up  ## compare account-state options (Redis vs Faust tables), 100k transactions each
	for option in redis faust-own-changelog faust-rocksdb faust-baseline; do \
	  $(PY) -m loadtest.state_bench --option $$option --transactions 100000 --accounts 50000; done

demo: up  ## start the stack, run generated traffic through two workers, reconcile, show what happened
	DEMO_COUNT=$(DEMO_COUNT) PAYSTREAM=$(PAYSTREAM) deploy/local/demo.sh