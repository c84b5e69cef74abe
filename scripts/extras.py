"""Prints the requirements of pyproject.toml's optional-dependency groups named on the command line, one per line,
so that CI and `make install-test` install exactly what pyproject.toml says and nothing is listed twice."""
import sys
from pathlib import Path

import tomllib

extras = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
groups = extras["project"]["optional-dependencies"]
print("\n".join(requirement for name in sys.argv[1:] for requirement in groups[name]))
