# Fresh-machine entry points: `make demo` and `make test` install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PURE_VENV ?= .venv-pure
PYTEST_ARGS ?=
SOURCES := pyproject.toml setup.py _speedups/_speedups.pyx $(wildcard hug_store_redis/*.py hug_store_redis/*.pyi hug_store_redis/cli/*.py)

.PHONY: test test-main test-pure test-slow test-deep lint demo bench redis-server clean
BENCH_COMMAND := $(VENV)/bin/pytest benchmarks -p no:cacheprovider -q --benchmark-max-time=1.0 --benchmark-json=build/benchmarks.json

test: lint test-main test-pure test-py313

# redis-server and redis-cli (and openssl, for the TLS tests) from Debian when missing.
redis-server:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v openssl >/dev/null || { \
	  echo "installing redis-server, redis-tools and openssl with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools openssl >/dev/null; }

# A venv with the package built with its extension required: a silent fallback cannot pass.
$(VENV)/.installed: $(SOURCES)
	@$(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv python3-dev build-essential && $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -U pip setuptools wheel Cython
	HUG_STORE_REDIS_REQUIRE_EXTENSIONS=1 $(VENV)/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation '.[hiredis,test]'
	$(VENV)/bin/python -I -c "import hug_store_redis as h; assert h.IMPLEMENTATION == 'cython', h.IMPLEMENTATION"
	touch $@

$(PURE_VENV)/.installed: $(SOURCES)
	$(PYTHON) -m venv $(PURE_VENV)
	$(PURE_VENV)/bin/python -m pip install -q --disable-pip-version-check -U pip setuptools wheel Cython
	HUG_STORE_REDIS_NO_EXTENSIONS=1 $(PURE_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation '.[hiredis,test]'
	$(PURE_VENV)/bin/python -I -c "import hug_store_redis as h; assert h.IMPLEMENTATION == 'python', h.IMPLEMENTATION"
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The whole suite on both twins (Python $(shell $(PYTHON) -c 'import sys; print(*sys.version_info[:2], sep=".")')).
test-main: redis-server $(VENV)/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The package built with HUG_STORE_REDIS_NO_EXTENSIONS=1: what a machine without a compiler gets.
test-pure: redis-server $(PURE_VENV)/.installed
	$(PURE_VENV)/bin/pytest --no-extensions -m "not slow and not packaging" $(PYTEST_ARGS)

# Another interpreter from pyenv or PATH: `make test-py313` (part of `make test`; hug comes
# from the hug-upgraded fork on 3.12+), and likewise `make test-py310`, `make test-py312`.
test-py3%: redis-server
	@py="$(firstword $(wildcard $(HOME)/.pyenv/versions/3.$*.*/bin/python3) $(shell command -v python3.$* 2>/dev/null))"; \
	if [ -z "$$py" ]; then echo "SKIPPED test-py3$*: no Python 3.$* interpreter on this machine"; exit 0; fi; \
	$(MAKE) --no-print-directory PYTHON=$$py VENV=.venv-py3$* .venv-py3$*/.installed && \
	.venv-py3$*/bin/python -I -c "import hug, sys; print('hug on', sys.version.split()[0], 'from', hug.__file__)" && \
	.venv-py3$*/bin/pytest -m "not slow and not packaging" $(PYTEST_ARGS)

# The demo app on an embedded redis-server (or $$REDIS_URL); `make demo DEMO_ARGS="--port 8080"`.
# The console script, not `python -m`, so the installed (compiled) package runs, not the source tree.
demo: redis-server $(VENV)/.installed
	$(VENV)/bin/hug-store-redis demo $(DEMO_ARGS)

test-slow: redis-server $(VENV)/.installed
	$(VENV)/bin/pytest -m slow $(PYTEST_ARGS)

# Every benchmark group on a redis-server it starts itself, then BENCHMARKS.md from that one run.
bench: redis-server $(VENV)/.installed
	mkdir -p build
	$(BENCH_COMMAND)
	$(VENV)/bin/python benchmarks/report.py build/benchmarks.json "make bench  # $(BENCH_COMMAND)" > BENCHMARKS.md
	@echo "wrote BENCHMARKS.md"

# The fuzz modules (those taking their budget from tests/support/hypothesis_profiles.py)
# with the deep Hypothesis profile: 10,000 examples per test.
FUZZ_MODULES = $(shell grep -rl --include='test_*.py' 'support.hypothesis_profiles' tests | sort)
test-deep: redis-server $(VENV)/.installed
	HYPOTHESIS_PROFILE=deep $(VENV)/bin/pytest $(FUZZ_MODULES) $(PYTEST_ARGS)

clean:
	rm -rf build dist *.egg-info .venv* _speedups/*.c
