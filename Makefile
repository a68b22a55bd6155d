# nvgw_nb: `make demo` and `make test` work on a fresh machine with python3 (>= 3.10).
# Each creates .venv when missing and installs the package with its dev extra; the
# stamp file is rebuilt only when pyproject.toml changes, so a second run installs nothing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.nvgw_nb-installed

.PHONY: venv demo test lint lab hooks clean distclean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

# The main job on the simulator: compare examples/prompts.jsonl on NIM and the gateway,
# report into demo-output/ (open demo-output/report.html first).
demo: venv
	$(BIN)/python -m nvgw_nb.demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# tests/browser drive JupyterLab in Debian's Chromium (/usr/bin/chromium): skipped without
# it, an error under CI=true (.ci/run installs it).
test: lint
	# Build matplotlib's font cache first: its one-time notice must not land in a notebook's output.
	$(BIN)/python -c "import matplotlib.font_manager"
	$(BIN)/pytest

# JupyterLab on notebooks/. The dev extra brings JupyterLab (the browser tests use it); the
# `lab` extra is installed here only for a .venv without it. ipywidgets 8 ships its
# JupyterLab extension, so widgets work.
lab: venv
	test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install -e '.[dev,lab]'
	$(BIN)/jupyter-lab notebooks/

# pre-commit hooks running the checks of `make test` (.pre-commit-config.yaml) before each commit.
hooks: venv
	$(BIN)/python -m pip install pre-commit
	$(BIN)/pre-commit install

clean:
	rm -rf out demo-output build dist .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
