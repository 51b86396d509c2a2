# The two commands a newcomer needs: `make run` and `make test`. Both build .venv on their own.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-dev
BENCH_INSTALLED := $(VENV)/.installed-bench

.PHONY: install run test test-citus lint format bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("agentkeep needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(BENCH_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/agentkeep up

# The suite on the embedded PostgreSQL, then again on a 3-node Citus cluster when the prebuilt
# Citus is at $(CITUS_DIR) (default ../shared/citus; skipped with the reason otherwise).
test: $(INSTALLED)
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-citus

test-citus: $(INSTALLED)
	VENV=$(VENV) bash .ci/citus-tests

lint: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(INSTALLED)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

bench: $(BENCH_INSTALLED)
	$(BIN)/python -m benchmarks.bench_policies
	$(BIN)/python -m benchmarks.bench_audit
	$(BIN)/python -m benchmarks.bench_decisions
	$(BIN)/python -m benchmarks.bench_trust
	$(BIN)/python -m benchmarks.bench_messages
	$(BIN)/python -m benchmarks.bench_vault

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
