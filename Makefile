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

.PHONY: install repro test mlflow seeds ablations notebook clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the local CPU build of torch first: an unpinned torch pulls gigabytes of CUDA wheels
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

repro: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc metrics show

test: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q

# Two more seeds of the study as DVC experiments, then reports/table1-seeds.md (mean ± sd over 3 seeds).
seeds: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m selfsynth.experiments seeds $(ARGS)

# The paper's ablations (beta grid, TF-IDF encoder, label check first) as queued DVC experiments;
# ARGS="--encoder /path/to/e5-large" adds a local encoder, ARGS="--only beta-0" runs one.
ablations: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m selfsynth.experiments ablations $(ARGS)

notebook: $(STAMP)
	$(BIN)/python -m pip install -q jupyterlab
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/jupyter lab notebooks/analysis.ipynb

mlflow: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db

clean:
	rm -rf $(VENV)
