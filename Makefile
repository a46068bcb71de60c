# The README's two commands: `make repro` (set up, run the study) and `make test` (set up, run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Nothing reaches for the network at run time.
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export DVC_NO_ANALYTICS=1
export MLFLOW_DISABLE_TELEMETRY=true
export DO_NOT_TRACK=1
export TOKENIZERS_PARALLELISM=false

.PHONY: install repro test lock mlflow seeds ablations notebook clean

install: $(STAMP)

# Every package, with its version and hash, comes from the committed lock (requirements/cpu.txt);
# the project itself is installed on top without resolving anything.
$(STAMP): requirements/cpu.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r requirements/cpu.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Re-resolve both profiles from pyproject.toml (uv, pinned; resolution only, nothing installed):
#   cpu: this machine's Python, torch 2.13.0 (the local CPU build in /opt/wheels where it exists)
#   gpu: Linux x86_64, Python 3.12, vllm + CUDA torch 2.14.0 + transformers <5.21, resolved together
UV_VERSION := 0.13.9
UV := .tools/bin/uv
FIND_LINKS ?= $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
$(UV):
	$(PYTHON) -m pip install -q --target .tools uv==$(UV_VERSION)

lock: $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) pip compile pyproject.toml requirements/build.in --extra cpu --extra test --extra llm \
	  $(FIND_LINKS) --generate-hashes --python-version 3.11 --no-header --emit-find-links -o requirements/cpu.txt
	UV_PYTHON_DOWNLOADS=never $(UV) pip compile pyproject.toml requirements/build.in --extra gpu --extra test --extra llm \
	  --override requirements/gpu-overrides.txt --python-version 3.12 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes --no-header -o requirements/gpu.txt

repro: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc metrics show

test: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q

# Seeds 1-9 of the study as DVC experiments (seed and world.seed together), then reports/table1-seeds.md:
# 95 % t-intervals over seeds and a Holm-adjusted verdict per claim (ARGS="--seeds 3 4" for a subset;
# reports/seeds.json keeps every seed run, so subsets run in different sessions add up).
seeds: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m selfsynth seeds $(ARGS)

# The paper's ablations (beta grid, TF-IDF encoder, label check first) as queued DVC experiments;
# ARGS="--encoder /path/to/e5-large" adds a local encoder, ARGS="--only beta-0" runs one.
ablations: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m selfsynth ablations $(ARGS)

# jupyterlab is the one thing not in the lock: it is installed (from the package registry) on first use
notebook: $(STAMP)
	$(BIN)/python -m pip install -q jupyterlab
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/jupyter lab notebooks/analysis.ipynb

mlflow: $(STAMP)  # the runs of the first experiment (this MLflow opens every experiment on its GenAI overview)
	@echo "runs: http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning&compareRunsMode=CHART"
	$(BIN)/mlflow ui --host 127.0.0.1 --backend-store-uri sqlite:///mlflow.db

clean:
	rm -rf $(VENV)
