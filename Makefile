# Every target bootstraps .venv by itself, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The mypyc-compiled engine: a copy of the package in build/native (pure Python stays the reference).
NATIVE := build/native/.built

.PHONY: run demo test lint bench native clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

$(NATIVE): $(STAMP) $(wildcard wcx/*.py wcx/*/*.py tests/engine/*.py config/*)
	scripts/build_native.sh $(BIN)/python
	touch $(NATIVE)

native: $(NATIVE)

run: $(STAMP)
	$(BIN)/wcx serve --demo

demo: $(STAMP)
	$(BIN)/wcx demo

# The whole suite on the pure-Python engine, then the engine tests again on the compiled engine.
test: $(STAMP) $(NATIVE)
	$(BIN)/pytest -q
	cd build/native && WCX_REFERENCE_ROOT=$(CURDIR) ../../$(BIN)/python -m pytest -q -p no:cacheprovider tests/engine

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict -p wcx.engine -p wcx.primitives
	$(BIN)/lint-imports

bench: $(STAMP) $(NATIVE)
	$(BIN)/wcx bench engine
	PYTHONPATH=build/native $(BIN)/wcx bench engine
	PYTHONPATH=build/native $(BIN)/python bench/engine_vs_peers.py

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
