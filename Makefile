# Two commands do everything on a fresh machine:  make demo   and   make test
# Each creates the environment when missing (uv, installed with pip if absent), fetches the
# pinned model files, then runs.
PYTHON ?= python3
VENV   := .venv
UV     := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
READY  := $(VENV)/.corpusmill-ready
CM     := $(VENV)/bin/corpusmill
MODELS := $(or $(CORPUSMILL_MODEL_DIR),$(HOME)/.cache/corpusmill/models)
# Demo quality classifier, trained (not downloaded) from the bundled sample; same data → same bytes.
QUALITY_DEMO := $(MODELS)/quality-demo.bin
# Korean name CRF for the pii option crf_names (off by default), trained from the bundled CC0 /
# public-domain sample with silver labels from the pii rules; same data → same bytes.
KO_NAMES_CRF := $(MODELS)/ko-names-crf.crfsuite

.PHONY: setup demo test test-full test-fast models lint clean shell

$(READY): pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.9"
	$(UV) sync --frozen --python 3.11 --extra test --compile-bytecode  # test = every extra + test tools
	$(CM) models fetch
	@touch $@

$(QUALITY_DEMO): $(READY) examples/pipeline.yaml examples/data/statutes.jsonl examples/data/nsmc_sample.jsonl.gz
	$(CM) quality train --config examples/pipeline.yaml --positive ko_statutes ko_bills en_speeches \
	    --negative ko_reviews --chunk-chars 600 --out $@

# Its silver labels come from the whole pii stage, so a change to any recognizer retrains it.
$(KO_NAMES_CRF): $(READY) examples/data/statutes.jsonl examples/data/nsmc_sample.jsonl.gz filters/pii.py $(wildcard filters/pii_recognizers/*.py filters/pii_recognizers/data/*)
	$(VENV)/bin/python -m filters.pii_recognizers train-names --out $@

# numba compiles the MinHash kernels on first use and caches them beside the source, keyed by
# kernels.py's modification time: compiled here once, not inside a fresh clone's first large run
# (3.8 CPU-s cold against 1.2 loading them cached, 2026-12-07, docs/performance.md).
MINHASH_KERNELS := $(VENV)/.minhash-kernels-cached
$(MINHASH_KERNELS): $(READY) filters/minhash_dedup/kernels.py
	$(VENV)/bin/python -c "from filters.minhash_dedup.options import MinHashOptions as O; from filters.minhash_dedup.signatures import Shingler, warm_kernels; o = O(); warm_kernels(o, Shingler(o))"
	@touch $@

setup: $(READY) $(QUALITY_DEMO) $(KO_NAMES_CRF) $(MINHASH_KERNELS)

# The demo's output is disposable: after an upgrade that changes a stage, its new run replaces
# the old one in runs/demo instead of refusing to mix them (a real run keeps that refusal).
demo: setup
	$(CM) run examples/pipeline.yaml --overwrite

# ruff (lint) and mypy (types; strict on the stage interface, bottom layer and manifest model).
lint: $(READY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: setup
	$(VENV)/bin/python -m pytest -q -m "not full"

# The real configs' full pipeline over every shared delivery, checked per source (15-40 min).
test-full: setup
	$(VENV)/bin/python -m pytest -q -m full

test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not slow and not full"

models: setup
	$(CM) models fetch
	$(CM) quality train --config examples/pipeline.yaml --positive ko_statutes ko_bills en_speeches \
	    --negative ko_reviews --chunk-chars 600 --out $(QUALITY_DEMO)

# A shell with the environment activated, so `corpusmill` is on PATH (exit to leave it).
shell: setup
	@echo "corpusmill is on PATH in this shell; exit to leave it"
	@. $(VENV)/bin/activate && exec $${SHELL:-bash} -i

clean:
	rm -rf $(VENV) runs .corpusmill .pytest_cache
