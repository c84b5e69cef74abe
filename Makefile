# The developer loop. `make` (or `make help`) lists the targets.
.DEFAULT_GOAL := help
# Every target runs in the project's virtual environment (scripts/venv.sh makes it on first use): .venv in the
# repository unless CONNECTOR_ACCEL_VENV names another, never the system's Python.
VENV ?= $(or $(CONNECTOR_ACCEL_VENV),$(CURDIR)/.venv)
PYTHON ?= $(VENV)/bin/python
# A quick optimised build for trying things: the wheel's fat LTO takes minutes longer and changes nothing but speed.
DEV_BUILD_ENV := CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16

.PHONY: help venv build-dev install-test install-bench test test-rust test-python lint lint-rust lint-python bench wheels demo demo-stop

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

venv: $(PYTHON) ## Make the virtual environment (.venv) if it is not there

$(PYTHON):
	CONNECTOR_ACCEL_VENV=$(VENV) bash -c '. scripts/venv.sh'

build-dev: $(PYTHON) ## Build and install the package in place (editable; Python edits are live), without LTO
	$(DEV_BUILD_ENV) $(PYTHON) -m pip install --quiet --no-deps -e .

install-test: $(PYTHON) ## Install the test and lint dependencies (not the package), and the Snowflake peers' venv
	$(PYTHON) scripts/extras.py test lint | xargs -d "\n" $(PYTHON) -m pip install --quiet
	PYTHON=$(PYTHON) scripts/snowflake-peers.sh

install-bench: $(PYTHON) ## Install what the benchmarks compare against (the bench extra: connectorx, python-tds)
	$(PYTHON) scripts/extras.py test bench | xargs -d "\n" $(PYTHON) -m pip install --quiet

test: ## README's test command: Rust unit tests, then pytest against a real PostgreSQL and the SDK runner
	./scripts/test.sh

test-rust: ## Rust unit tests (dev profile: no server, no fat-LTO build)
	cargo test --quiet

test-python: ## pytest against the installed package (run build-dev first)
	$(PYTHON) -m pytest -q

lint: lint-rust lint-python ## Everything CI checks besides the tests

lint-rust: ## rustfmt and clippy (warnings are errors; lints in Cargo.toml's [lints])
	cargo fmt --check
	cargo clippy --all-targets --quiet -- -D warnings
	cargo clippy -p connector_accel_python --no-default-features --quiet -- -D warnings  # the first demo's build

lint-python: ## ruff, mypy, and stubtest of _core.pyi against the built module (allow-list in stubtest-allowlist.txt)
	$(PYTHON) -m ruff check python tests testkit benchmarks scripts connector.py
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest connector_accel._core --allowlist stubtest-allowlist.txt

# What ships is measured: the fat-LTO build, in its own target directory so that it and the demo/test build
# (scripts/build.sh's default, LTO off) do not rebuild each other.
bench: install-bench ## Every benchmark, on the wheel's fat-LTO build (minutes; figures go to benchmarks/RESULTS.md by hand)
	CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_TARGET_DIR=$${CARGO_TARGET_DIR:-$(CURDIR)/target/fat} \
	  PATH=$(VENV)/bin:$$PATH ./scripts/build.sh
	$(PYTHON) benchmarks/bench_read.py
	$(PYTHON) benchmarks/bench_engine.py
	$(PYTHON) benchmarks/bench_deletes.py
	$(PYTHON) benchmarks/bench_arrow.py
	$(PYTHON) benchmarks/bench_mssql.py
	$(PYTHON) benchmarks/bench_grpc.py --rows 200000
	$(PYTHON) benchmarks/bench_remote.py  # root: a network namespace and TUN devices

wheels: ## Release artifacts in dist/: manylinux2014 x86_64 abi3 wheel (zig) and sdist, checked with twine and auditwheel
	./scripts/wheels.sh

demo: ## Start the demo database and sync it with `fivetran debug`
	./scripts/demo.sh

demo-stop: ## Stop the demo database
	./scripts/demo.sh stop
