# mlpact's developer entry points. `make demo` and `make test` are all a newcomer needs:
# each one creates .venv and installs what it needs on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
STAMP := $(VENV)/.installed
# Everything the tests exercise. Heavy extras (torch, ray, mlflow) join here as their
# features land; torch is pinned to the local CPU build by constraints.txt.
EXTRAS := dev,serve,ui,notebooks,tune,ray,torch,mlflow,remote
ONLY ?=

.PHONY: help setup demo test fuzz lint format bench docs screenshots clean

help:  ## Show the targets.
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[$(EXTRAS)]"
	@# pip compiles what it installs, but not an editable source tree: do it, so that start-up
	@# (mlpact --help, a cold predict) is measured and felt as users of a wheel feel it.
	$(BIN)/python -m compileall -q src > /dev/null
	@touch $@

setup: $(STAMP)  ## Create .venv and install mlpact with the test tools.

demo: $(STAMP)  ## Train the wine example, save a version, predict with it, show the result.
	@bash examples/demo.sh

test: $(STAMP)  ## Run the test suite (2 workers).
	$(BIN)/python -m pytest -n 2 -q

# Property-based fuzzing and hostile-input tests, long: thousands of generated configs, frames,
# HTTP payloads and crafted skops schemas (random class names and node kinds) per property, hostile
# files, serving security, and the server's load test for 60 s (20 s in `make test`) with its
# alias moved 50 times. About 12 minutes on 2 cores (the skops property: ~2 of them).
FUZZ_TESTS := tests/test_fuzz.py tests/test_untrusted.py tests/test_serve_security.py tests/test_serve_load.py

fuzz: $(STAMP)  ## Fuzz configs, frames and payloads (thousands of examples); 60 s server load test.
	HYPOTHESIS_PROFILE=fuzz MLPACT_LOAD_SECONDS=60 $(BIN)/python -m pytest -q $(FUZZ_TESTS)

lint: $(STAMP)  ## ruff (lint + format check) and mypy.
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

format: $(STAMP)  ## Format the code with ruff.
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

# The benchmarks also run the baselines (`mlflow models serve`: the mlflow extra, now in EXTRAS).
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	@touch $@

bench: $(BENCH_STAMP)  ## Run the benchmarks into bench/results.json (ONLY=name for one).
	$(BIN)/python bench/run.py $(if $(ONLY),--only $(ONLY))

docs: $(STAMP)  ## Regenerate the config reference in README.md and docs/.
	$(BIN)/python -m mlpact.docs --write

screenshots: $(STAMP)  ## Write screenshots of mlpact ui's main pages to docs/img/ (needs chromium).
	$(BIN)/python tests/ui_screenshots.py docs/img

clean:  ## Remove the virtual environment, caches and demo output.
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-out bench/.work
