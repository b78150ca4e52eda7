# Flightlog — the two commands: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN_DEBUG = $(shell swift build --show-bin-path)

.PHONY: deps venv build build-tests test test-swift test-e2e run demo bench clean agents

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

## make demo: offline, in one go: the recorder, the project's fake provider standing in for api.anthropic.com,
## an SDK agent with a tool through `flightlog run`, then `flightlog sessions`, `show` and `verify`.
demo: build venv
	FLIGHTLOG_BIN=$(BIN_DEBUG) $(PY) scripts/demo.py

## make bench: release build; the gateway against direct and mitmdump, sessiond against COPY, ingestd against zstd -1 and openssl.
## mitmproxy gets a venv of its own: it pins an h11 that the SDKs' httpx in $(VENV) cannot use.
bench: venv
	FLIGHTLOG_BENCH=1 scripts/install-deps.sh
	test -x .venv-bench/bin/mitmdump || { python3 -m venv .venv-bench && .venv-bench/bin/pip install -q --disable-pip-version-check mitmproxy; }
	swift build -c release
	FLIGHTLOG_BIN=$$(swift build -c release --show-bin-path) MITMDUMP=.venv-bench/bin/mitmdump $(PY) scripts/bench.py
	FLIGHTLOG_BIN=$$(swift build -c release --show-bin-path) $(PY) scripts/bench_pipeline.py
	FLIGHTLOG_BIN=$$(swift build -c release --show-bin-path) $(PY) scripts/bench_ingest.py

clean:
	rm -rf .build $(VENV) .venv-bench

## make agents: the real Claude Code and Codex CLIs (several hundred MB from PyPI, in their own venv under
## .build) run through `flightlog run` against the scripted fake provider; see Tests/agents.
AGENTS_VENV := .build/agents-venv

$(AGENTS_VENV)/.stamp: Tests/agents/requirements-agents.txt
	python3 -m venv $(AGENTS_VENV)
	$(AGENTS_VENV)/bin/pip install -q --disable-pip-version-check -r Tests/agents/requirements-agents.txt
	touch $@

agents: build $(AGENTS_VENV)/.stamp
	FLIGHTLOG_BIN=$(BIN_DEBUG) $(AGENTS_VENV)/bin/python -m pytest -q -s Tests/agents
