# Two commands for a fresh machine:  `make demo` (train + evaluate the tiny TRM on CPU)
# and `make test` (the test suite). Both create .venv and install on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
# CI pins exact versions on Python 3.11; other Pythons resolve from setup.cfg's ranges.
CONSTRAINTS := $(shell $(PYTHON) -c 'import sys; print("-c constraints/py311.txt" if sys.version_info[:2] == (3, 11) else "")')

.PHONY: install demo test lint bench clean

$(STAMP): setup.cfg pyproject.toml constraints/py311.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(CONSTRAINTS) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(PY) -m rrm_jax.main --config=experiments/trm.py:tiny --workdir=$(DEMO_DIR)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile --durations=15 tests

lint: $(STAMP)
	$(VENV)/bin/ruff check rrm_jax tests experiments benchmarks

bench: $(STAMP)
	$(PY) benchmarks/step_time.py

clean:
	rm -rf $(VENV) runs
