"""The release wheel as a user gets it: installed into a fresh virtual environment with no Rust toolchain on PATH,
it imports from that environment and runs the PostgreSQL type-matrix sync. Slow (a venv and the test extras from
the package index), so it runs where CONNECTOR_ACCEL_WHEEL names the wheel: `.ci/run` sets it after `make wheels`."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WHEEL = os.environ.get("CONNECTOR_ACCEL_WHEEL")

pytestmark = pytest.mark.skipif(not WHEEL, reason="set CONNECTOR_ACCEL_WHEEL to a built wheel (CI does, after make wheels)")


def test_the_wheel_installs_without_rust_and_syncs_the_type_matrix(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # Only the venv and the system's own directories: no cargo, rustc or rustup (they live in ~/.cargo/bin).
    path = os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    assert shutil.which("cargo", path=path) is None and shutil.which("rustc", path=path) is None
    env = dict(os.environ, PATH=path, PIP_DISABLE_PIP_VERSION_CHECK="1", DO_NOT_TRACK="1")
    env.pop("VIRTUAL_ENV", None)
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", f"{Path(WHEEL).resolve()}[test]"], env=env,
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    where = subprocess.run([python, "-c", "import connector_accel, sys; print(connector_accel.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0 and where.stdout.startswith(str(venv)), where.stdout + where.stderr
    matrix = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_type_matrix.py"],
                            env=env, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert matrix.returncode == 0 and " passed" in matrix.stdout, matrix.stdout[-3000:] + matrix.stderr[-3000:]
