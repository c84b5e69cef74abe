# The developer loop. `make` (or `make help`) lists the targets.
.DEFAULT_GOAL := help
PYTHON ?= python3
# A quick optimised build for trying things: the wheel's fat LTO takes minutes longer and changes nothing but speed.
DEV_BUILD_ENV := CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16

.PHONY: help build-dev install-test test test-rust test-python lint lint-rust lint-python bench wheels demo

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

build-dev: ## Build and install the package in place (editable; Python edits are live), without LTO
	$(DEV_BUILD_ENV) $(PYTHON) -m pip install --quiet --no-deps -e .

install-test: ## Install the test and lint dependencies (not the package)
	$(PYTHON) scripts/extras.py test lint | xargs -d "\n" $(PYTHON) -m pip install --quiet

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

lint-python: ## ruff, mypy, and stubtest of _core.pyi against the built module (allow-list in stubtest-allowlist.txt)
	$(PYTHON) -m ruff check python tests testkit benchmarks scripts connector.py
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest connector_accel._core --allowlist stubtest-allowlist.txt

bench: ## Every benchmark (minutes; figures go to benchmarks/RESULTS.md by hand)
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
