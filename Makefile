# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: run test stack-test install install-test browser-deps migrate starter lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

migrate: install
	$(BIN)/flask db upgrade

starter: migrate
	$(BIN)/flask catalog load-starter

# Embeds what has no vector yet (the whole starter catalog at first start, ~15 s); a re-run skips
# every unchanged dataset in a second or two.
run: starter
	$(BIN)/flask embeddings build
	@echo "Serving the catalog in the database. 'flask catalog sync' (or SYNC_ON_START=1) pulls from the Hub."
	$(BIN)/flask run --host $(HOST) --port $(PORT)

# Browser tests drive Debian's chromium (Playwright's own browser download is impossible here).
# As root with apt we install it; otherwise the browser tests skip and say why.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "No /usr/bin/chromium and no root apt: browser tests will be skipped"; \
	  fi; \
	fi

test: install-test browser-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The production stack for real, on 127.0.0.1 (tests/stack, about a minute): nginx with
# deploy/nginx.conf (installed from Debian when missing, as root), gunicorn through
# deploy/entrypoint.sh, an RQ worker, PostgreSQL (database dataset_explorer_stack, recreated)
# and Redis (database 5, flushed), as .ci/run starts them. Not part of `make test`.
stack-test: install-test browser-deps
	STACK_TEST=1 $(BIN)/python -m pytest tests/stack -s -p no:cacheprovider $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check app tests bench

# Every benchmark through bench/run_all.py (search, impact, cluster quality, load: about 45
# minutes): bench/results/<date>.json and the summary table in bench/README.md.
# BENCH_ARGS="--quick" for a short pass, "--only search,load" for a subset.
bench: install-test browser-deps
	$(BIN)/python bench/run_all.py --write-readme $(BENCH_ARGS)

# Hypothesis on every route, form and card (tests/fuzz): FUZZ_EXAMPLES per test, over 10,000
# examples in all; prints the examples per route and the statuses seen. `make test` runs the
# same tests with 15 each.
FUZZ_EXAMPLES ?= 250
fuzz: install-test
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/fuzz -q -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
