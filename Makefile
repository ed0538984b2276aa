# flexzoo: `make demo` builds the example model, `make test` runs the tests; both set up .venv first.
# `make report-check` screenshots a trained model's `zoo report` in headless Chromium (apt-get install chromium);
# it is not part of `make test`.
# `make docs` builds the documentation site strictly (warnings are errors) into site/; `make test` runs the same build.
# `make docs-check` screenshots three of its pages in headless Chromium and checks them (not part of `make test`).
# Installs are pinned by requirements/constraints.txt (the versions CI last passed with); pyproject.toml keeps ranges.
# `make upgrade` re-resolves the newest releases and rewrites it; `make test-latest` runs the suite on the newest
# releases in a venv of its own (.venv-latest), `make test-flaky` runs every test that starts processes, servers,
# ranks or signals 10 times; neither is part of CI.
# `make drift-agreement` compares the drift monitor's verdicts with alibi-detect's and evidently's on the same windows
# (issue 24); they need numpy<2 and pandas<3, so it installs them into a venv of their own, .venv-drift, pinned by
# requirements/drift-agreement.txt. Not part of `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(wildcard plugins/*/pyproject.toml)
STAMP  := $(VENV)/.installed
CONSTRAINTS := requirements/constraints.txt
DRIFT_VENV := .venv-drift
DRIFT_REQUIREMENTS := requirements/drift-agreement.txt
# The suite runs on TEST_WORKERS processes (pytest-xdist), a test to whichever is free: 2 suits a 2-core machine,
# where one process kept only one core busy on average.
TEST_WORKERS ?= 2
PARALLEL = -n $(TEST_WORKERS) --dist worksteal
EDITABLES = -e '.[dev]' $(foreach p,$(PLUGINS),-e $(dir $(p)))

.PHONY: venv demo test lint bench report-check docs docs-check clean upgrade test-latest test-flaky \
	drift-agreement

venv: $(STAMP)

$(STAMP): pyproject.toml $(PLUGINS) $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) $(EDITABLES)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/zoo build examples/digits.toml -o out/
	$(BIN)/zoo inspect out/digits-multitask.safetensors

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(STAMP) lint
	$(BIN)/python -m pytest $(PARALLEL)

# The tests marked `processes` (servers, torch.distributed ranks, signals, killed writers), 10 runs each.
test-flaky: $(STAMP)
	$(BIN)/python -m pytest -m processes --count 10 -q

upgrade:
	rm -rf .venv-upgrade
	$(PYTHON) -m venv .venv-upgrade
	.venv-upgrade/bin/python -m pip install --quiet --upgrade pip
	.venv-upgrade/bin/python -m pip install --quiet $(EDITABLES)
	{ sed -n '/^#/p' $(CONSTRAINTS); .venv-upgrade/bin/python -m pip freeze --exclude-editable \
	  | grep -v -i -E '^(flexzoo|#)'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-upgrade
	@echo "rewrote $(CONSTRAINTS); run \`make test\` before committing it"

test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager $(EDITABLES)
	.venv-latest/bin/python -m pip list --format=freeze | grep -i -E '^(torch|timm|transformers|keras|optuna)=='
	.venv-latest/bin/python -m pytest $(PARALLEL)

bench: $(STAMP)
	$(BIN)/python bench/run.py

$(DRIFT_VENV)/.installed: $(DRIFT_REQUIREMENTS)
	rm -rf $(DRIFT_VENV)
	$(PYTHON) -m venv $(DRIFT_VENV)
	$(DRIFT_VENV)/bin/python -m pip install --quiet -r $(DRIFT_REQUIREMENTS)
	touch $@

drift-agreement: $(STAMP) $(DRIFT_VENV)/.installed
	$(BIN)/python bench/drift_agreement.py --python $(DRIFT_VENV)/bin/python

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-check: $(STAMP)
	$(BIN)/python tools/docs_check.py -o out/docs-check

report-check: $(STAMP)
	$(BIN)/python tools/report_check.py -o out/report-check

clean:
	rm -rf $(VENV) .venv-latest .venv-upgrade $(DRIFT_VENV) out site bench/results.json
