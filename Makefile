# pushlab: `make serve`, `make test`, `make bench`. Each creates and reuses .venv by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: serve test lint bench bench-full locust docs notebooks clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "pushlab needs Python 3.11+")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)  ## serve http://127.0.0.1:8000/chat/ for a live demo
	$(BIN)/pushlab serve

lint: $(STAMP)  ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy strategies benchmarks lab

test: lint  ## the whole suite, browser tests included
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
