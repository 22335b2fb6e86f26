# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test test-gpu bench lint docs clean system-deps

# make bench DEVICE=cuda: the same workloads on the GPU
DEVICE ?= cpu

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip

# Install the package and train the default recipe (a small CNN on 8x8 digits, ~15 s on 2 cores).
demo: $(BIN)/python
	$(PIP) -e ".[all]"
	$(BIN)/shenjing demo

# Install the dev extra (pytest, hypothesis, scikit-learn, torch 2.13 CPU, ruff) and run the suite:
# two pytest workers with one BLAS thread each, so the 2 cores are not oversubscribed.
test: $(BIN)/python system-deps
	$(PIP) -e ".[dev]"
	@if command -v mpicc >/dev/null; then $(PIP) "mpi4py>=3.1" || echo "mpi4py failed to build: distributed tests will skip"; fi
	$(BIN)/ruff check shenjing tests benchmarks examples
	@OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# On a machine with an NVIDIA GPU: every device-parametrized test on the real GPU (CuPy),
# plus the check that each array function the package calls exists in CuPy.
test-gpu: $(BIN)/python
	$(PIP) -e ".[dev,gpu]"
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m gpu tests
	$(BIN)/python -m pytest -q tests/test_cupy_api.py

# shenjing vs PyTorch in the same run; prints ms/step and the ratio.
bench: $(BIN)/python
	$(PIP) -e ".[dev]"
	$(BIN)/python benchmarks/run.py --device $(DEVICE)

# Open MPI (distributed tests) and Graphviz (graph drawings), from the system's packages when
# this machine lets us install them (root + apt); otherwise those tests skip and say why.
system-deps:
	@if ! command -v mpirun >/dev/null || ! command -v dot >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -q --no-install-recommends openmpi-bin libopenmpi-dev graphviz \
	      >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q \
	      --no-install-recommends openmpi-bin libopenmpi-dev graphviz >/dev/null 2>&1)) \
	      || echo "could not install Open MPI / Graphviz: their tests will skip"; \
	  else echo "Open MPI / Graphviz missing and not installable here: their tests will skip"; fi; \
	fi

# Build the documentation site (tutorial + API reference from docstrings) into site/, offline.
docs: $(BIN)/python
	$(PIP) -e ".[docs]"
	$(BIN)/python -m mkdocs build --strict -d site

lint: $(BIN)/python
	$(BIN)/ruff check shenjing tests benchmarks examples

clean:
	rm -rf $(VENV) runs site .pytest_cache
