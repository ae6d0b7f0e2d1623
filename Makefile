# Every target installs what it needs first; all are safe to run again.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint fmt docs test demo simulate serve screenshot renders drawing bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[redis]' --group dev
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check batchverify tests bench
	$(BIN)/ruff format --check batchverify tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format batchverify tests bench
	$(BIN)/ruff check --fix batchverify tests bench

# Tencent's Node.js SDK, pinned, for the test that points it at the simulator (skipped without npm,
# except under CI, where .ci/run installs it).
NODE_SDK := tests/node/node_modules/.package-lock.json
$(NODE_SDK): tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/node --no-audit --no-fund --silent; \
	else echo "npm not found: the Node.js SDK test will be skipped"; fi

# The documentation site (docs/, mkdocs.yml) into site/: --strict, so a broken link or reference fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -d site

test: lint docs $(NODE_SDK)
	$(BIN)/python -m pytest -q

# Exit 1 is the expected end of the demo: the sample list holds numbers that stay busy, hit the
# daily limit or fail, to show every status; a real run would fill those in on the next night.
demo: $(STAMP)
	$(BIN)/batchverify run sample_data/customers.xlsx --simulator --yes --restart --progress log \
		|| [ $$? -eq 1 ]
	@echo "demo output: sample_data/customers.verified.xlsx"

simulate: $(STAMP)
	$(BIN)/batchverify simulate

serve: $(STAMP)
	$(BIN)/batchverify serve --simulator

# The pictures of the upload page (docs/serve-*.png), taken by the browser tests (needs Debian's chromium).
screenshot: $(STAMP)
	BATCHVERIFY_SCREENSHOT_DIR=docs $(BIN)/python -m pytest -q tests/web/test_web_browser.py -k download
	BATCHVERIFY_SCREENSHOT_DIR=docs $(BIN)/python -m pytest -q tests/web/test_web_page_ops.py -k "budget or cannot_be_told"

# The pictures of the workbooks a Chinese upload gets back (docs/result-zh.png, docs/problems-zh.png),
# printed by LibreOffice (needs libreoffice-calc-nogui and poppler-utils).
renders: $(STAMP)
	$(BIN)/python -m tests.support.renders docs

# The package drawing (docs/layers.svg): every package and the imports between them, drawn by pydeps
# from the code (needs Graphviz's dot: apt-get install graphviz). tests/project/test_layout.py holds the layers.
drawing: $(STAMP)
	$(BIN)/python -c 'import pydeps' 2>/dev/null || $(BIN)/python -m pip install --quiet pydeps
	$(BIN)/pydeps batchverify --only batchverify --max-module-depth 2 --rankdir BT --no-show \
		--noise-level 0 -x batchverify.__main__ -o docs/layers.svg

# Benchmarks against the local simulator (not tests): full sizes write the record, bench/RESULTS.md
# (about 35 minutes); quick sizes bench/work/RESULTS-quick.md (a few minutes). Inputs go to
# bench/work/. A section that fails makes the run exit 1.
# The bench extra (aiolimiter, the official SDK, httpx) is installed when it is missing.
bench: $(STAMP)
	$(BIN)/python -c 'import aiolimiter, httpx, tencentcloud.faceid' 2>/dev/null \
		|| $(BIN)/python -m pip install --quiet -e '.[redis,bench]' --group dev
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -c 'import aiolimiter, httpx, tencentcloud.faceid' 2>/dev/null \
		|| $(BIN)/python -m pip install --quiet -e '.[redis,bench]' --group dev
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache bench/work site
