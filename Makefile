# nvgw_nb: `make demo` and `make test` work on a fresh machine with python3 (>= 3.10).
# Both create .venv when missing. `make demo` installs the package alone (what the demo
# needs); `make test` adds the dev and docs extras (linters, test tools, JupyterLab for the
# browser tests, mkdocs). A stamp per install is rebuilt only when pyproject.toml changes,
# so a second run installs nothing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.nvgw_nb-demo
DEV_STAMP := $(VENV)/.nvgw_nb-installed

.PHONY: venv demo test test-fast lint docs docs-strict lab hooks clean distclean

venv: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the package and its runtime dependencies only
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -e '.[dev,docs]'
	touch $@ $(DEMO_STAMP)

# The main job on the simulator: compare examples/prompts.jsonl on NIM and the gateway,
# report into demo-output/ (open demo-output/report.html first).
demo: $(DEMO_STAMP)
	$(BIN)/python -m nvgw_nb.demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# tests/browser drive JupyterLab in Debian's Chromium (/usr/bin/chromium): skipped without
# it, an error under CI=true (.ci/run installs it).
test: lint docs-strict
	# Build matplotlib's font cache first: its one-time notice must not land in a notebook's output.
	$(BIN)/python -c "import matplotlib.font_manager"
	$(BIN)/pytest

# The edit-test loop: tests/ without the browser, the chaos run, long fuzzing and the
# notebooks. CI (`make test`) still runs everything.
test-fast: venv
	$(BIN)/pytest -o addopts=-ra -m "not browser and not slow" tests

# The documentation site (mkdocs-material) into site/; `make test` builds it with --strict,
# so a broken link or a stale API name fails. (NO_MKDOCS_2_WARNING: mkdocs-material's
# end-of-life banner is news, not a build problem.)
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --site-dir site

docs-strict: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

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
	rm -rf out demo-output site build dist .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
