# Stage targets. Each one only calls primus-cli or snakemake; the logic lives in the primus package.
# `make train` and `make test` do all set-up on a fresh machine (Python 3.11 + pip).
#   make train EXP=qwen3_8B                      an experiment name (looked up under examples/) or a path
#   make train EXP=qwen3_debugmodel PLATFORM=CPU  names are looked up in one platform folder (default MI300X)

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
EXP     ?= default
PLATFORM ?=
CORES   ?= 2
SMK      = $(BIN)/snakemake --cores $(CORES)
CONTAINER_VARIANT ?=
# Snakemake's --config takes every key=value after one flag: build that one flag from what is set.
SWEEP   ?=
SMKVARS  = $(if $(filter default,$(EXP)),,exp=$(EXP)) $(if $(PLATFORM),platform=$(PLATFORM)) \
           $(if $(SWEEP),sweep=$(SWEEP)) \
           $(if $(CONTAINER_VARIANT),container_variant=$(CONTAINER_VARIANT))
SMKCFG   = $(if $(strip $(SMKVARS)),--config $(strip $(SMKVARS)))
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: setup validate resolve container train sweep verify report test test-fast bench lint format clean

setup: $(STAMP)

# torch first and alone: 2.13.0 is the CPU build on this machine's disk; letting a resolver pick torch
# for another package would download a CUDA build of several GB.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[train,workflow,containers,dev]'
	rm -f $(VENV)/.installed-* && touch $@

validate: setup      ## validate every shipped experiment (or EXP=path)
	$(BIN)/primus-cli validate $(if $(filter default,$(EXP)),examples/torchtitan/configs/*/*.yaml,$(EXP))

resolve: setup       ## freeze EXP into runs/<exp_name>/<hash>/
	$(SMK) resolve $(SMKCFG)

container: setup     ## build the training image (CONTAINER_VARIANT=cpu for the CPU variant)
	$(SMK) container $(SMKCFG)

train: setup         ## validate -> freeze -> train -> verify (the embedded CPU default unless EXP=...)
	$(SMK) train $(SMKCFG)

sweep: setup         ## every point of SWEEP=PATH through its own chain (CORES=N side by side), then the report
	$(if $(SWEEP),,$(error make sweep needs SWEEP=PATH, e.g. SWEEP=examples/sweeps/llama3_debugmodel-lr.yaml))
	$(SMK) sweep --keep-going $(SMKCFG)

verify: setup
	$(SMK) verify $(SMKCFG)

report: setup        ## HTML report with the verdict and loss plot (with SWEEP=PATH: the sweep report too)
	$(SMK) $(if $(SWEEP),sweep,train) $(SMKCFG) --report report.html

test: setup
	$(BIN)/pytest -q --durations=15

test-fast: setup     ## unit tests only (no Snakemake, torchrun, containers, SLURM or torch import): under a minute
	$(BIN)/pytest -q -m "not slow and not integration and not slurm and not container"

bench: setup         ## speed targets; writes bench/RESULTS.md
	$(BIN)/python bench/run_all.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint --cores 1
	$(BIN)/snakefmt --check Snakefile workflow/rules

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf runs .snakemake report.html
