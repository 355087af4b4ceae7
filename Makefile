# Two commands for a fresh machine: `make run` starts the service, `make test` runs the tests.
# Both install what they need first (a Python venv in .venv, the node tools in node_modules)
# and are idempotent: a second run installs nothing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
IPFS_STAMP := tools/ipfs/node_modules/.installed
FORGE      := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
# Slither pins crypto packages of its own that may clash with web3's: it gets a venv of its own.
SLITHER_VERSION := 0.11.6
CRYTIC_COMPILE_VERSION := 0.4.2
SLITHER_VENV    := .tools/slither
SLITHER_STAMP   := $(SLITHER_VENV)/.installed-$(SLITHER_VERSION)

.PHONY: install chromium run test test-fast lint forge-test slither slither-install brownie-smoke clean

install: $(PY_STAMP) $(NODE_STAMP) $(IPFS_STAMP)

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(SLITHER_STAMP):
	mkdir -p .tools
	$(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet --upgrade pip
	$(SLITHER_VENV)/bin/pip install --quiet "slither-analyzer==$(SLITHER_VERSION)" "crytic-compile==$(CRYTIC_COMPILE_VERSION)"
	touch $@

slither-install: $(SLITHER_STAMP)

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

# The fast set, in under a minute: tests/unit and tests/contracts (one anvil), without the tests marked slow
# (the Foundry suite, recompiling, waiting for the chain's clock). `make test` runs everything.
test-fast: install
	$(BIN)/pytest -m "(unit or contracts) and not slow" --durations=20

lint: install $(SLITHER_STAMP)
	$(BIN)/ruff check ledger_service indexer oracles tokenization edge provenance_device tests scripts bench
	$(BIN)/mypy ledger_service indexer oracles tokenization edge provenance_device
	$(BIN)/lint-imports
	$(BIN)/python scripts/slither_gate.py --slither $(SLITHER_VENV)/bin/slither

# Slither alone: contracts/ through Foundry's build, failing on findings docs/slither-triage.md lacks.
slither: $(NODE_STAMP) $(SLITHER_STAMP)
	$(BIN)/python scripts/slither_gate.py --slither $(SLITHER_VENV)/bin/slither

# The Foundry suite alone (make test runs it too, through tests/contracts/test_forge.py).
forge-test: $(NODE_STAMP)
	$(FORGE) test --use scripts/solc --offline

brownie-smoke: $(NODE_STAMP)
	bash scripts/brownie-smoke.sh

clean:
	rm -rf build .pytest_cache .ruff_cache .mypy_cache
