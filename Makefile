# lrbench: every target creates and uses its own virtual environment (.venv).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format ci-grid bench bench-findlr clean

$(STAMP): pyproject.toml lrbench/core/_fused.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev,dask]'
	$(PY) -m compileall -q lrbench
	@$(PY) -c "from lrbench.core import kernels; print('lrbench: compiled kernels', 'built' if kernels.available() else 'not built (no C compiler): numpy code, same results, slower')"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## the main job: the bundled quick-start sweep
	$(VENV)/bin/lrbench sweep

test: $(STAMP)  ## the test suite
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check lrbench tests $(wildcard benchmarks)
	$(VENV)/bin/ruff format --check lrbench tests $(wildcard benchmarks)
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix lrbench tests $(wildcard benchmarks)
	$(VENV)/bin/ruff format lrbench tests $(wildcard benchmarks)

ci-grid: $(STAMP)  ## the CI grid: every config of configs/ci/, expectations checked, JUnit XML
	$(VENV)/bin/lrbench batch configs/ci/ --out-root results/ci --no-resume --check --junit results/ci/junit.xml

bench: $(STAMP)  ## performance benchmark (see BENCHMARKS.md); pip install torch==2.13.0 for the PyTorch column
	$(PY) benchmarks/bench.py

bench-findlr: $(STAMP)  ## find-lr's suggestions (and fastai's, Lightning's, torch-lr-finder's) against the best lr of a fine sweep (BENCHMARKS.md)
	$(PY) benchmarks/findlr_bench.py --json results/bench-findlr/results.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache lrbench/core/*.so
