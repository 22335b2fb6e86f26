# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip

# Install the package and train the default recipe (dense network on 8x8 digits).
demo: $(BIN)/python
	$(PIP) -e ".[all]"
	$(BIN)/shenjing train digits-mlp

# Install the dev extra (pytest, hypothesis, scikit-learn, torch 2.13 CPU, ruff) and run the suite:
# two pytest workers with one BLAS thread each, so the 2 cores are not oversubscribed.
test: $(BIN)/python
	$(PIP) -e ".[dev]"
	$(BIN)/ruff check shenjing tests benchmarks examples
	@OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# shenjing vs PyTorch in the same run; prints ms/step and the ratio.
bench: $(BIN)/python
	$(PIP) -e ".[dev]"
	$(BIN)/python benchmarks/run.py

lint: $(BIN)/python
	$(BIN)/ruff check shenjing tests benchmarks examples

clean:
	rm -rf $(VENV) runs .pytest_cache
