# MammoRead developer commands. `make run` serves the demo; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The JavaScript check: Biome, pinned in package.json / package-lock.json (npm ci installs it).
NODE_STAMP := node_modules/.package-lock.json
BIOME := node_modules/.bin/biome
export MAMMOREAD_DATA_DIR ?= ./var

.PHONY: run test test-s3 lint format clean bench jslint jsformat

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

## Set up, create the demo administrator (password printed once), load demo studies, serve.
run: $(STAMP)
	$(BIN)/mammoread init --username admin --display-name "Demo Administrator" --generate-password
	$(BIN)/mammoread demo --studies 5 --if-empty --with-readers
	@echo "Serving on http://127.0.0.1:8000  (sign in as 'admin'; a forgotten password: $(BIN)/mammoread user reset-password admin)"
	$(BIN)/mammoread serve --host 127.0.0.1 --port 8000

# the tests that store or read images, run again with every test's images in SeaweedFS (S3)
S3_TESTS := tests/imaging tests/export tests/pacs tests/objectstore tests/masking

## Set up and run every test (SQLite; PostgreSQL too when MAMMOREAD_TEST_POSTGRES_URL is set),
## then the image-storing tests again on S3 (SeaweedFS, started by the tests).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(MAKE) --no-print-directory jslint
	$(BIN)/pytest -n 2
	$(MAKE) --no-print-directory test-s3

## The S3 variant alone: the image-storing tests with their images in SeaweedFS.
test-s3: $(STAMP)
	MAMMOREAD_TEST_STORAGE=s3 $(BIN)/pytest -n 2 $(S3_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

## Lint and format check of static/js (biome.json says which files and rules).
jslint: $(NODE_STAMP)
	$(BIOME) ci static/js

jsformat: $(NODE_STAMP)
	$(BIOME) check --write static/js

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
