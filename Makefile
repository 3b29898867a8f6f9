# The two commands: `make run` starts the whole product, `make test` runs every test.
# Both install what is missing first; `make install` is quick when nothing changed.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PY311 ?= $(shell command -v python3.11)
PY310 ?= $(shell p=$$(pyenv prefix 3.10 2>/dev/null) && echo $$p/bin/python3.10 || command -v python3.10)
VENV := .venv
RASA_VENV := .venv-rasa
# pip on these machines names local mirror folders that may be absent; that warning is noise.
PIP_FILTER := 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
CHROMIUM := /usr/bin/chromium
# The web chat widget: npm project in channels/widget, built into channels/static/{widget,uswds} (git-ignored).
WIDGET := channels/widget
WIDGET_BUILT := channels/static/widget/widget.js

.PHONY: help install widget run test test-scale train sync lint bench eval screenshots clean

help:
	@echo "make run      install what is missing, train Rasa if needed, start everything (Ctrl-C stops all)"
	@echo "make test     install what is missing, lint, and run the whole test suite"
	@echo "make test-scale  the scale-out profile's test: two replicas on PostgreSQL and Redis (docs/deploy.md)"
	@echo "make install  create .venv (Python 3.11) and .venv-rasa (Python 3.10), install Chromium, build the widget"
	@echo "make widget   build the web chat widget (npm ci + npm run build in channels/widget)"
	@echo "make screenshots  run the browser tests, saving the README's screenshots to docs/screenshots"
	@echo "make train    train the Rasa model if the training data changed"
	@echo "make sync     run an incremental sync in the foreground (needs the sources to be up)"
	@echo "make lint     ruff, ruff format --check, mypy"
	@echo "make bench    run the benchmarks: bench/run.py, then the 1,000-page sync (results: docs/benchmarks.md)"
	@echo "make eval     answer quality on the test half of tests/eval/, beside plain baselines (SPLIT=dev to tune)"

install: $(VENV)/.installed $(RASA_VENV)/.installed $(CHROMIUM) widget

$(VENV)/.installed: pyproject.toml
	@test -n "$(PY311)" || { echo "Python 3.11 is required for .venv (install it with pyenv)"; exit 1; }
	test -x $(VENV)/bin/python || $(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --upgrade pip $(PIP_FILTER)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[dev]' $(PIP_FILTER)
	touch $@

$(RASA_VENV)/.installed: requirements/rasa.txt
	@test -x "$(PY310)" || { echo "Python 3.10 is required for Rasa 3.6 (pyenv install 3.10)"; exit 1; }
	test -x $(RASA_VENV)/bin/python || $(PY310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install -q --disable-pip-version-check --upgrade pip $(PIP_FILTER)
	@echo "Installing Rasa 3.6.21 into $(RASA_VENV) (a few minutes on a fresh machine)..."
	$(RASA_VENV)/bin/pip install -q --disable-pip-version-check -r requirements/rasa.txt $(PIP_FILTER)
	touch $@

$(CHROMIUM):
	@echo "Installing Chromium from Debian (for the web chat browser tests)..."
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

widget: $(WIDGET_BUILT)

# Node.js comes from Debian (20 or newer; package.json "engines"); npm ci installs exactly package-lock.json.
$(WIDGET)/node_modules/.package-lock.json: $(WIDGET)/package.json $(WIDGET)/package-lock.json
	@command -v npm >/dev/null || { echo "Installing Node.js and npm from Debian (for the web chat widget)..."; \
		apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@node -e 'if (+process.versions.node.split(".")[0] < 20) { console.error("Node.js " + process.versions.node + " is too old for the web chat widget: install Node.js 20 or newer (apt-get install nodejs npm)"); process.exit(1); }'
	cd $(WIDGET) && npm ci --no-audit --no-fund
	touch $@

$(WIDGET_BUILT): $(WIDGET)/node_modules/.package-lock.json $(WIDGET)/build.mjs $(wildcard $(WIDGET)/src/*)
	cd $(WIDGET) && npm run build

train: install
	$(VENV)/bin/python -m channels.launcher --train-only

run: install
	$(VENV)/bin/python -m channels.launcher

# The scale-out test (two whole replicas on PostgreSQL and Redis, about 3-5 minutes) runs in `make test-scale`,
# which .ci/run calls after `make test`.
SCALE_TEST := tests/integration/test_scale_out.py
test: install train lint
	$(VENV)/bin/python -m pytest --ignore=$(SCALE_TEST) --durations=25

test-scale: install train
	$(VENV)/bin/python -m pytest -q $(SCALE_TEST)

# The README's pictures: the browser tests, saving their screenshots to docs/screenshots instead of build/.
screenshots: install train
	SCREENSHOT_DIR=docs/screenshots $(VENV)/bin/python -m pytest -q tests/integration/test_webchat_browser.py \
		tests/integration/test_staff_browser.py tests/integration/test_review_browser.py tests/integration/test_editor_stack.py

sync: install
	$(VENV)/bin/assistant sync

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install
	$(VENV)/bin/python bench/run.py
	$(VENV)/bin/python bench/sync_bench.py
	$(VENV)/bin/python bench/load.py
	$(VENV)/bin/python bench/memory.py

SPLIT ?= test
eval: install train
	$(VENV)/bin/python bench/eval_answers.py --split $(SPLIT)

clean:
	rm -rf $(VENV) $(RASA_VENV) models/*.tar.gz data/runtime .pytest_cache .mypy_cache .ruff_cache .rasa \
		$(WIDGET)/node_modules channels/static/widget channels/static/uswds
