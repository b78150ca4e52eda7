# Flightlog — the two commands: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN_DEBUG = $(shell swift build --show-bin-path)

.PHONY: deps venv build build-tests test test-swift test-e2e run bench clean

deps:
	@scripts/install-deps.sh

$(VENV)/.stamp: Tests/e2e/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r Tests/e2e/requirements.txt
	touch $@

venv: $(VENV)/.stamp

build: deps
	swift build

build-tests: deps
	swift build --build-tests

## make test: install what is missing, build once (debug), run the Swift suites and the end-to-end suite.
test: build-tests venv
	swift test --skip-build --parallel
	FLIGHTLOG_BIN=$(BIN_DEBUG) $(PY) -m pytest -q Tests/e2e

test-swift: build-tests
	swift test --skip-build --parallel

test-e2e: build venv
	FLIGHTLOG_BIN=$(BIN_DEBUG) $(PY) -m pytest -q Tests/e2e

## make run: install what is missing, build, and run the recorder on the embedded SQLite default.
run: build
	$(BIN_DEBUG)/flightlog up

## make bench: release build, then the benchmark against direct and mitmdump baselines.
bench: venv
	FLIGHTLOG_BENCH=1 scripts/install-deps.sh
	$(VENV)/bin/pip install -q --disable-pip-version-check mitmproxy
	swift build -c release
	FLIGHTLOG_BIN=$$(swift build -c release --show-bin-path) $(PY) scripts/bench.py

clean:
	rm -rf .build $(VENV)
