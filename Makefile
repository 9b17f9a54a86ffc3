# lgsp-hub: `make demo` and `make test` do all setup on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
export LGSP_HOME ?= $(CURDIR)/var
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy
UV := $(PYTHON) -m uv

.PHONY: demo test cluster-test bench bench-smoke lint uv venv postgres mariadb chromium curl redis iproute2 clean

uv:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q "uv==$(UV_VERSION)"

venv: uv
	@$(UV) sync --frozen --python 3.11 -q

demo: venv
	$(BIN)/lgsp demo

postgres:
	@bash .ci/install-postgres

mariadb:
	@bash .ci/install-mariadb

chromium:
	@bash .ci/install-chromium

curl:
	@bash .ci/install-curl

redis:
	@bash .ci/install-redis

iproute2:
	@bash .ci/install-iproute2

test: venv postgres mariadb chromium redis iproute2
	$(BIN)/pytest -n auto  # one worker per core (pytest-xdist); the suite is independent of test order

# The cluster profile's tests alone (make test runs them too): the whole province on test hosts made
# as network namespaces (tests/cluster/test_province.py, as root), DuckLake, the release store.
cluster-test: venv postgres redis iproute2
	$(BIN)/pytest -n 2 -m cluster tests/cluster

# Every benchmark at its real size (minutes each), figures and their references printed and written
# to benchmarks/results/<name>.json (committed), then README.md's performance tables rendered from
# them. bench-smoke: small sizes through the same code paths (about two minutes; CI runs it), to
# benchmarks/out/, failing on an error, never on a figure.
bench: uv postgres curl
	@$(UV) sync --frozen --python 3.11 --group bench -q
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/readme.py

bench-smoke: venv postgres curl
	$(BIN)/python benchmarks/run.py --smoke

# ruff, the floors (import-linter contracts in pyproject.toml), and mypy over every package: lgsp
# (all its parts and dags/, through lgsp/<part>) and the sandbox.
lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy lgsp sandbox/lgsp_sandbox

clean:
	rm -rf $(LGSP_HOME)
