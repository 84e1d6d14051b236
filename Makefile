# `make dev` starts the local stack; `make test` runs the suite. Both create .venv when missing.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: dev test record-histories clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

dev: $(VENV)/.installed
	$(VENV)/bin/recovery dev

test: $(VENV)/.installed
	$(PY) -m pytest

# Re-record the replay fixtures (only for a deliberate, versioned workflow change).
record-histories: $(VENV)/.installed
	$(PY) -m tests.replay.record

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
