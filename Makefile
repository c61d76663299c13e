# pushlab: `make serve`, `make test`, `make test-all`, `make bench`. Each creates and reuses .venv
# by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: serve test test-all lint bench bench-full locust docs notebooks clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "pushlab needs Python 3.11+")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'pip>=21.3'  # editable installs (PEP 660); no upgrade each time
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)  ## serve http://127.0.0.1:8000/chat/ for a live demo
	$(BIN)/pushlab serve

lint: $(STAMP)  ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy strategies benchmarks lab

FAST_TIERS := -m "not slow and not browser"

# mypy checks types while pytest runs the fast tiers: one core each (mypy's report follows pytest's).
test: $(STAMP)  ## ruff, mypy and the fast tiers: units, in-process integration, one shared server (~2 minutes)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(BIN)/mypy strategies benchmarks lab > $(VENV)/mypy.log 2>&1 & \
	$(BIN)/pytest $(FAST_TIERS); tests=$$?; \
	wait $$!; types=$$?; echo "mypy strategies benchmarks lab:"; cat $(VENV)/mypy.log; \
	[ $$tests -eq 0 ] && [ $$types -eq 0 ]

test-all: lint  ## every test: the fast tiers plus browsers, bench runs, chaos, capacity, docs build, notebooks, Postgres
	$(BIN)/pytest

bench: $(STAMP)  ## measure every strategy (quick profile), write results/latest/
	$(BIN)/pushlab bench

bench-full: $(STAMP)  ## every scenario, the sweep and capacity included (about an hour on 2 cores)
	$(BIN)/pushlab bench --profile full

locust: $(STAMP)  ## Locust's web UI against a running `make serve`
	$(BIN)/locust -f benchmarks/load/locustfile.py --class-picker --host http://127.0.0.1:8000 --web-host 127.0.0.1

notebooks: $(STAMP)  ## JupyterLab on notebooks/ (http://127.0.0.1:8888/), this .venv as the kernel
	JUPYTER_PREFER_ENV_PATH=1 $(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1

docs: $(STAMP)  ## build the docs site into site/
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) var site
