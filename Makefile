# Two commands for a fresh machine: `make run` starts the service, `make test` runs the tests.
# Both install what they need first (a Python venv in .venv, the node tools in node_modules)
# and are idempotent: a second run installs nothing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
IPFS_STAMP := tools/ipfs/node_modules/.installed

.PHONY: install chromium run test lint brownie-smoke clean

install: $(PY_STAMP) $(NODE_STAMP) $(IPFS_STAMP)

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# js-ipfs, for the content store's IPFS tests (the service itself needs no IPFS node).
$(IPFS_STAMP): tools/ipfs/package.json tools/ipfs/package-lock.json
	cd tools/ipfs && npm ci --no-audit --no-fund
	touch $@

# Debian's Chromium, for the browser tests (Playwright drives it; its own browser download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
		{ echo "installing Chromium for the browser tests"; \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || \
		  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; }

run: install
	$(BIN)/provenance up

test: install chromium
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check ledger_service indexer oracles tokenization tests scripts bench
	$(BIN)/mypy ledger_service indexer oracles tokenization

brownie-smoke: $(NODE_STAMP)
	bash scripts/brownie-smoke.sh

clean:
	rm -rf build .pytest_cache .ruff_cache .mypy_cache
