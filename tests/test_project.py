"""`python -m connector_accel init`: a project that `fivetran debug` syncs and `fivetran package` zips with just the
connector's own files."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import connector_accel as ca
import pytest
from connector_accel.form import configuration_form, connection_test
from fivetran_connector_sdk import form_field

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
    # the SDK's dependency check found connector_accel installed (its top_level.txt) and asked no package index
    assert "pipreqs" not in debug.stdout + debug.stderr, debug.stdout[:3000]
    assert warehouse(project).execute("SELECT count(*) FROM tester_proj.items").fetchone() == (25,)
    package = fivetran(project, "package", "--non-interactive")
    assert package.returncode == 0, package.stdout[-2000:] + package.stderr[-2000:]
    zipped = zipfile.ZipFile(project / "files" / f"{project.name}.zip")
    assert sorted(zipped.namelist()) == ["README.md", "configuration_form.pb", "connector.py", "requirements.txt"]
    assert zipped.read("requirements.txt").decode() == f"connector_accel=={ca.__version__}\n"
    assert zipped.read("configuration_form.pb") == configuration_form("postgres")._to_proto().SerializeToString()


def test_init_refuses_to_overwrite(tmp_path):
    first = subprocess.run([sys.executable, "-m", "connector_accel", "init", str(tmp_path), "--source", "sqlserver"],
                           capture_output=True, text=True)
    assert first.returncode == 0 and "mssql_server" in (tmp_path / "configuration.json").read_text()
    again = subprocess.run([sys.executable, "-m", "connector_accel", "init", str(tmp_path), "--source", "postgres"],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "already exist" in again.stderr
    assert "mssql_server" in (tmp_path / "configuration.json").read_text(), "nothing was overwritten"


@pytest.mark.parametrize("source,secret,choice", [("postgres", "password", "sslmode"),
                                                  ("sqlserver", "mssql_password", "encrypt")])
def test_the_form_marks_secrets_and_offers_only_accepted_choices(source, secret, choice):
    fields = {f.name: f for f in configuration_form(source).to_response().fields}
    assert fields[secret].text_field == form_field.PASSWORD and fields[secret].required
    assert all(f.text_field != form_field.PASSWORD for name, f in fields.items() if name != secret)
    base = ({"host": "h", "user": "u", "database": "d"} if source == "postgres"
            else {"mssql_server": "h", "mssql_user": "u", "mssql_database": "d", "mssql_password": "p"})
    for key, field in fields.items():  # every field is a key the configuration knows: no "unknown key" warning
        value = (field.dropdown_options[0].value if field.dropdown_options else "true" if field.toggle
                 else "1" if key.endswith(("port", "_hours")) else __file__ if key in ("cert", "sslrootcert") else "x")
        assert not [w for w in ca.Source(dict(base, **{key: value})).warnings if "unknown" in w and key in w], key
    choices = [o.value for o in fields[choice].dropdown_options]
    assert len(choices) >= 4
    for value in choices:
        ca.Source(dict(base, **{choice: value}))  # every offered value is accepted


def test_the_setup_test_connects_and_names_what_is_wrong(pg, sql):
    sql("CREATE SCHEMA IF NOT EXISTS proj")
    sql("CREATE TABLE IF NOT EXISTS proj.items (id int PRIMARY KEY, name text)")
    assert connection_test(connection_config(pg, schemas="proj")).success
    wrong = connection_test(connection_config(pg, schemas="proj", password="not-the-password"))
    assert wrong.failure and "not-the-password" not in wrong.failure and "password" in wrong.failure.lower()
    empty = connection_test(connection_config(pg, schemas="no_such_schema_here"))
    assert empty.failure, empty


def test_the_installed_distribution_names_its_top_level_package():
    from importlib.metadata import distribution
    assert distribution("connector_accel").read_text("top_level.txt").split() == ["connector_accel"], \
        f"python/connector_accel-{ca.__version__}.dist-info/top_level.txt must follow the version"
