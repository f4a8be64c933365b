# Every target creates/uses .venv itself: on a fresh clone `make report` and `make test` are enough.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt
STAMP  := $(VENV)/.installed

.PHONY: report test lint bench clean venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's metadata or pins change.
$(STAMP): $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

report: $(STAMP)
	$(VENV)/bin/actlab report --quick --out report

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_catalog.py

clean:
	rm -rf $(VENV) report .pytest_cache
