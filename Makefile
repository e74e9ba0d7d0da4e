# Two commands for learners:   make lab   |   make test
# Both create .venv with the pinned stack first (once; later runs skip it in a second).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ftcourse-installed
# The weekly drift job runs `make test CONSTRAINTS= VENV=.venv-latest` to get the newest releases.
CONSTRAINTS ?= -c constraints.txt
PYTEST_ARGS ?=

.PHONY: lab test test-full test-portable test-explore venv lint assign grade repoint strip clean help

help:
	@echo "make lab      start JupyterLab on the course (lessons/, labs/) (creates .venv on first use)"
	@echo "make test     run every test and execute every notebook in smoke mode"
	@echo "make test-full      full mode's dry run: every lesson in full mode on a CPU, against a stand-in hub"
	@echo "make lint     ruff on the package, tests and notebooks"
	@echo "make test-portable  numerical tests under every CPU kernel family and 1/2 threads, with margins"
	@echo "make test-explore   hypothesis tests with fresh random examples, 25x as many"
	@echo "make grade    grade your labs/ (reports in grading-out/)"
	@echo "make assign   (instructors) regenerate labs/ from solutions/"
	@echo "make repoint REPO=owner/name   point badges and Colab setup cells at your fork"
	@echo "make strip    remove outputs from every notebook before committing"

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), f"Python 3.11+ needed, found {sys.version}"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e ".[lab,dev]"
	@touch $(STAMP)
	@echo "ready: $(VENV) ($$($(BIN)/python --version))"

venv: $(STAMP)

lab: venv
	$(BIN)/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root)

# Two xdist workers with one thread each use both cores without oversubscription (OpenMP
# threads spin-wait, so 2 workers x 2 threads can run several times slower than 2 x 1).
test: venv
	FTCOURSE_MODE=$${FTCOURSE_MODE:-smoke} HF_HUB_OFFLINE=1 OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -n 2 --dist loadfile --nbmake -m "not full_dry_run" $(PYTEST_ARGS)

# Full mode without a GPU or a network: every lesson with FTCOURSE_MODE=full against a stand-in hub of small random
# models and datasets under the real hub ids (ftcourse.standin), offline, steps and timings capped (FTCOURSE_DRY_RUN).
test-full: venv
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -n 2 --dist load -m full_dry_run --durations=0 tests/test_full_mode.py $(PYTEST_ARGS)

# Floating-point results depend on the CPU's kernels: the numerical tests must hold under each of them.
test-portable: venv
	$(BIN)/python tests/run_portable.py $(PYTEST_ARGS)

# CI runs hypothesis derandomized (the same examples every time); this draws new ones, many more.
test-explore: venv
	HYPOTHESIS_PROFILE=explore FTCOURSE_MODE=smoke HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q tests/unit $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check utils tests lessons solutions labs

assign: venv
	$(BIN)/ftcourse assign

grade: venv
	$(BIN)/ftcourse grade labs/lab*.ipynb --out grading-out

repoint: venv
	@test -n "$(REPO)" || (echo "usage: make repoint REPO=owner/name" && exit 2)
	$(BIN)/python -m ftcourse.notebooks repoint $(REPO)

strip: venv
	$(BIN)/python -m ftcourse.notebooks strip

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
