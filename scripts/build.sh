#!/usr/bin/env bash
# Builds the Rust core and installs connector_accel into the active Python (scripts/venv.sh's venv), printing what
# it does and one numbered line per crate compiled, instead of minutes of silence. The whole output goes to
# files/build.log, whose end is shown if the build fails.
#
# The profile is the release one with LTO off and 16 codegen units, not the wheel's fat LTO with one unit: on 2
# cores a first build costs the same CPU but parallelises better, a rebuild after a change takes a minute instead of
# a whole-program LTO, and its reads were within measurement noise of the wheel's (benchmarks/RESULTS.md, "Build
# profile"). Set CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
# to build exactly as `make wheels` does. CARGO_TARGET_DIR, if set, is where cargo keeps its work (default target/).
# CONNECTOR_ACCEL_SERVER=0 leaves the Partner SDK server (`python -m connector_accel serve`) out of the module: 48
# crates fewer, which a first ./scripts/demo.sh uses to be quick (the demo does not serve gRPC).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-off}"
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS="${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-16}"
# About this many crates are compiled by a first build (`cargo tree -p connector_accel_python -e normal,build`, unique
# packages: 269 with the Partner SDK server, 221 without it, counted in a fresh clone on 2026-12-02); a rebuild
# compiles only what changed.
crates=269 without=""
if [ "${CONNECTOR_ACCEL_SERVER:-1}" = 0 ]; then
  # maturin's PEP 517 backend passes these to cargo; pyproject.toml's extension-module feature stays on.
  export MATURIN_PEP517_ARGS="--no-default-features"
  crates=221 without=", without the Partner SDK server"
fi
mkdir -p files
log=files/build.log
echo "==> building the Rust core (cargo, release profile, LTO $CARGO_PROFILE_RELEASE_LTO," \
  "$CARGO_PROFILE_RELEASE_CODEGEN_UNITS codegen units$without) and installing it into $(dirname "$(dirname "$(command -v python3)")")"
echo "    a first build compiles about $crates crates: 12 to 15 CPU-minutes, about 7 minutes on 2 free cores (more on a" \
  "busy machine);" \
  "later runs reuse ${CARGO_TARGET_DIR:-target/} and take seconds. Full output: $log"
# cargo's own progress lines, numbered and timed (bash only: mawk, Debian's awk, has no clock).
progress() {
  local line n=0 elapsed
  while IFS= read -r line; do
    line="${line#"${line%%[! ]*}"}"
    case "$line" in
      Compiling\ *)
        n=$((n + 1)) elapsed=$((SECONDS - started))
        printf '    [%3d/~%d %2d:%02d] %s\n' "$n" "$crates" $((elapsed / 60)) $((elapsed % 60)) "$line" ;;
      Finished\ *) echo "    $line" ;;
    esac
  done
}
started=$SECONDS
if ! python3 -m pip install -v --no-deps --force-reinstall . 2>&1 | tee "$log" | progress; then
  echo "the build failed; the end of $log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
echo "==> connector_accel built and installed in $((SECONDS - started)) s"
