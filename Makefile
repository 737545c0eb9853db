# Two commands do everything on a fresh machine:
#   make demo   -> both sagas on an embedded Temporal dev server, real HTTP services
#                  (make demo DEMO_ARGS=--keep-running keeps it up to browse the Web UI)
#   make test   -> lint, types, and the whole test suite
# Both create .venv and install the project on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint check-compose constraints clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) starter.py demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

check-compose:
	docker-compose -f docker-compose.yml config -q

# The runtime dependencies' exact versions for the image, from a clean environment.
constraints:
	rm -rf build/constraints-venv
	$(PYTHON) -m venv build/constraints-venv
	build/constraints-venv/bin/pip install -q .
	{ sed -n '1,2p' constraints.txt; build/constraints-venv/bin/pip freeze --exclude temporal-sagas; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache .hypothesis
