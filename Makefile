# Two commands on a fresh clone: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall when the dependency list changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint install model bench clean

run: $(STAMP) model
	$(BIN)/memvault serve

# Export the embedding model to ONNX once (cached by checksum; otherwise done on first use).
model: $(STAMP)
	$(BIN)/python -c 'import memvault.config as c, memvault.embedding as m; \
	  e = m.open_embedder(c.Settings.from_env()); e.load(); print("embedding runtime:", e.runtime)'

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "memvault needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/python bench/ingest_search.py --n 1000

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
