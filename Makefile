# flexzoo: `make demo` builds the example model, `make test` runs the tests; both set up .venv first.
# `make report-check` screenshots a trained model's `zoo report` in headless Chromium (apt-get install chromium);
# it is not part of `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(wildcard plugins/*/pyproject.toml)
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint bench report-check clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/zoo build examples/digits.toml -o out/
	$(BIN)/zoo inspect out/digits-multitask.safetensors

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(STAMP) lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py

report-check: $(STAMP)
	$(BIN)/python tools/report_check.py -o out/report-check

clean:
	rm -rf $(VENV) out bench/results.json
