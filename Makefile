# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv (Python 3.11+) and install jifen from the lock file when needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint openapi fuzz bench bench-quick lock clean

$(STAMP): pyproject.toml requirements.lock clients/python/pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("jifen needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]' -e clients/python
	touch $(STAMP)

## run: migrate the SQLite file, seed the demo township, serve on 127.0.0.1:8000 (/docs)
run: $(STAMP)
	$(BIN)/jifen migrate
	$(BIN)/jifen seed-demo --env-file demo.env
	$(BIN)/jifen serve

## test: lint, types, then the whole suite on SQLite and (when reachable) PostgreSQL
test: lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations examples clients/python
	$(BIN)/ruff format --check src tests bench migrations examples clients/python
	$(BIN)/mypy

openapi: $(STAMP)
	$(BIN)/jifen export-openapi

## fuzz: schemathesis with every check, 100 examples per operation (the suite runs 2)
fuzz: $(STAMP)
	JIFEN_FUZZ_EXAMPLES=$${JIFEN_FUZZ_EXAMPLES:-100} $(BIN)/python -m pytest -p no:cacheprovider -n 0 tests/api/test_schemathesis.py

## bench: every figure next to its reference, SQLite and PostgreSQL (~1 hour, and the county settlement's 1M-entry seed adds 30-60 min per backend on 2 cores); bench-quick: small (10-20 min)
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

## lock: re-pin every dependency after changing pyproject.toml
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -v -e '^jifen' -e '^pip==' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
