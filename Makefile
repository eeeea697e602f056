# Onion — top-level entry points. Every target does its own set-up (idempotent, fast when done).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
PYTEST  := $(PY) -m pytest
STAMP   := $(VENV)/.onion-setup
APT_PKGS := iverilog yosys libsystemc-dev

.PHONY: help setup test lint format check-generated demo train bench csim cocotb synth hls bd bitstream cosim clean

help:
	@echo "make demo   - train onion_tiny on the embedded digits data through the engine (C-sim off the board)"
	@echo "make test   - the whole test suite: PyTorch reference, C-sim vs PyTorch, cocotb on Icarus + Verilator, host"
	@echo "make setup  - create .venv with pinned dependencies (+ Debian iverilog, yosys)"
	@echo "make train  - python -m model.train on the embedded default (PyTorch reference)"
	@echo "make bench  - benchmarks (results land in docs/bench/ and the README)"
	@echo "make lint   - ruff check + ruff format --check (part of make test); make format applies both"
	@echo "make csim | cocotb | synth | hls | bd | bitstream | cosim"

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml tools/setup_system.sh
	@bash tools/setup_system.sh $(APT_PKGS)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

test: $(STAMP) lint
	$(PYTEST) -q --durations=15

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# The generated files (spec.h, the engine's interface block, nonlinear tables, RTL geometry) match their generators.
check-generated: $(STAMP)
	$(PY) -m hw.gen.spec --check
	$(PY) -m hw.gen.nonlinear_tables --check
	$(PY) -m hw.gen.mac_geometry --check

# The demo's run folder is runs/onion_tiny_digits_s0; --overwrite so that a second `make demo` starts afresh
# (resume an interrupted one with: .venv/bin/python host/train_on_board.py --resume).
demo: $(STAMP)
	$(PY) host/train_on_board.py --overwrite

train: $(STAMP)
	$(PY) -m model.train

bench: $(STAMP)
	$(PY) -m bench

csim: $(STAMP)
	$(PY) -m sim.csim

cocotb: $(STAMP)
	$(PYTEST) -q tests/rtl

# The Xilinx flow lives in hw/Makefile; it checks for the vendor tools itself.
synth hls bd bitstream cosim:
	@$(MAKE) --no-print-directory -C hw $@

clean:
	rm -rf build hw/build sim_build .pytest_cache
