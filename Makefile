# `make dev` starts the local stack; `make test` runs the suite. Both create .venv when missing.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: dev test lint format record-histories clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

dev: $(VENV)/.installed
	$(VENV)/bin/recovery dev

# The suite in three processes (pytest-xdist), each with its own Temporal dev server and PostgreSQL,
# one test module per process at a time, the longest modules first (tests/conftest.py SLOWEST_FIRST).
# Most tests wait on servers, not the CPU, so three processes keep 2 cores busy; TEST_WORKERS=0 runs
# the suite in one process.
TEST_WORKERS ?= 3
test: $(VENV)/.installed
	$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

# `make lint`: ruff's rules, `ruff format --check` and mypy (strict on workflows/, activities/, recovery/).
# The style checks (import order I001, line length E501, `ruff format --check`) are on by default;
# LINT_STYLE=0 leaves them out (`make format` applies the style).
LINT_STYLE ?= 1
TYPED := workflows activities recovery starter console worker.py bench
ifeq ($(LINT_STYLE),1)
RUFF_STYLE_IGNORE :=
else
RUFF_STYLE_IGNORE := --extend-ignore I001,E501
endif

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(RUFF_STYLE_IGNORE) .
ifeq ($(LINT_STYLE),1)
	$(VENV)/bin/ruff format --check .
endif
	$(VENV)/bin/mypy $(TYPED)

# Apply the style: import order and ruff's formatter.
format: $(VENV)/.installed
	$(VENV)/bin/ruff check --select I --fix .
	$(VENV)/bin/ruff format .

# Record fixtures for new scenarios only: one that exists is never overwritten (SCENARIO=NAME: just that one).
record-histories: $(VENV)/.installed
	$(PY) -m tests.replay.record $(if $(SCENARIO),--scenario $(SCENARIO))

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
