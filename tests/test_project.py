"""`python -m connector_accel init`: a project that `fivetran debug` syncs and `fivetran package` zips with just the
connector's own files."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import connector_accel as ca

from testkit import connection_config, warehouse


def fivetran(project: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "fivetran"), *args]
    return subprocess.run(command, cwd=project, env=dict(os.environ, DO_NOT_TRACK="1"), capture_output=True,
                          text=True, timeout=300)


def test_a_generated_project_syncs_and_packages_just_its_files(pg, sql, tmp_path):
    sql("CREATE SCHEMA IF NOT EXISTS proj")
    sql("DROP TABLE IF EXISTS proj.items")
    sql("CREATE TABLE proj.items (id int PRIMARY KEY, name text)")
    sql("INSERT INTO proj.items SELECT g, 'item ' || g FROM generate_series(1, 25) g")
    project = tmp_path / "my_connector"
    made = subprocess.run([sys.executable, "-m", "connector_accel", "init", str(project), "--source", "postgres"],
                          capture_output=True, text=True, check=True)
    assert sorted(p.name for p in project.iterdir()) == ["README.md", "configuration.json", "connector.py",
                                                          "requirements.txt"], made.stdout
    assert (project / "requirements.txt").read_text() == f"connector_accel=={ca.__version__}\n"
    placeholders = json.loads((project / "configuration.json").read_text())
    assert placeholders["password"] == "<password>" and placeholders["emit"] == "auto", "placeholders, no secrets"
    (project / "configuration.json").write_text(json.dumps(connection_config(pg, schemas="proj")))
    debug = fivetran(project, "debug", "--configuration", "configuration.json")
    assert debug.returncode == 0, debug.stdout[-2000:] + debug.stderr[-2000:]
    assert warehouse(project).execute("SELECT count(*) FROM tester_proj.items").fetchone() == (25,)
    package = fivetran(project, "package", "--non-interactive")
    assert package.returncode == 0, package.stdout[-2000:] + package.stderr[-2000:]
    zipped = zipfile.ZipFile(project / "files" / f"{project.name}.zip")
    assert sorted(zipped.namelist()) == ["README.md", "configuration_form.pb", "connector.py", "requirements.txt"]
    assert zipped.read("requirements.txt").decode() == f"connector_accel=={ca.__version__}\n"


def test_init_refuses_to_overwrite(tmp_path):
    first = subprocess.run([sys.executable, "-m", "connector_accel", "init", str(tmp_path), "--source", "sqlserver"],
                           capture_output=True, text=True)
    assert first.returncode == 0 and "mssql_server" in (tmp_path / "configuration.json").read_text()
    again = subprocess.run([sys.executable, "-m", "connector_accel", "init", str(tmp_path), "--source", "postgres"],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "already exist" in again.stderr
    assert "mssql_server" in (tmp_path / "configuration.json").read_text(), "nothing was overwritten"
