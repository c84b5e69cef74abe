# Sourced by demo.sh, test.sh and .ci/run (from the repository root): the project's own virtual environment, so
# that nothing is installed into the system's Python (Debian and Ubuntu refuse that: externally-managed-environment).
# It is $CONNECTOR_ACCEL_VENV, by default .venv in the repository, made on the first run with the first python3 on
# PATH and reused on every later run; its bin/ goes first on PATH, so python3, pip and fivetran are the venv's.
venv="${CONNECTOR_ACCEL_VENV:-$PWD/.venv}"
# A venv without pip is what `python3 -m venv` leaves behind where python3-venv is missing: made again (as is a
# directory that is no venv at all).
if ! "$venv/bin/python" -c 'import sys, pip; sys.exit(sys.prefix == sys.base_prefix)' >/dev/null 2>&1; then
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
    || { echo "connector_accel needs Python 3.10 or later as python3 (found: $(python3 --version 2>&1))" >&2; exit 1; }
  echo "==> creating the virtual environment $venv (once; later runs reuse it)"
  rm -rf "$venv"
  python3 -m venv "$venv" >/dev/null \
    || { echo "python3 -m venv failed; on Debian or Ubuntu: apt-get install python3-venv" >&2; rm -rf "$venv"; exit 1; }
fi
export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" PIP_DISABLE_PIP_VERSION_CHECK=1
unset PYTHONHOME

# Installs the package with the optional-dependency groups named ("test", "test lint", ...) into the venv: the
# groups' requirements (downloaded while cargo compiles: pip waits on the network, cargo on the CPU; they share no
# file, the package itself is installed with --no-deps), then the Rust core built with cargo's output shown as
# numbered progress lines.
install_package() {
  local requirements=""
  if [ "$#" -gt 0 ]; then
    mkdir -p files
    python3 scripts/extras.py "$@" | xargs -d '\n' python3 -m pip install --quiet >files/pip.log 2>&1 &
    requirements=$!
  fi
  scripts/build.sh
  if [ -n "$requirements" ] && ! wait "$requirements"; then
    echo "installing the requirements of $* failed; the end of files/pip.log:" >&2
    tail -n 20 files/pip.log >&2
    exit 1
  fi
}
