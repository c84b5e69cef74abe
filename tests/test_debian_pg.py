"""Types the embedded server cannot hold: xml needs libxml and citext a contrib extension, neither in pgserver's
build (the type matrix can only hold NULL xml there). This starts Debian's PostgreSQL (PG_BIN, or
/usr/lib/postgresql/*/bin) and skips loudly, saying what is not tested, when there is none."""
import glob
import os
from pathlib import Path

import psycopg
import pytest

from testkit import connection_config, conninfo, embedded_pg, free_port, run_sync, warehouse

VALUES = ["<a>b &amp; c</a>", "<empty/>", "<?xml version=\"1.0\"?><doc lang=\"é\"><p>ünï 😀</p></doc>",
          "plain text is an xml content fragment", "<x/><y>two roots</y>", None]


def libxml_server(bin_dir: str, tmp_path_factory):
    datadir = tmp_path_factory.mktemp("xmlpg") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PG_BIN", bin_dir)
        settings = embedded_pg.start(datadir, free_port())
    return settings, datadir


@pytest.fixture(scope="module")
def xml_pg(tmp_path_factory):
    candidates = [os.environ.get("PG_BIN", "")] + sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    bin_dir = next((c for c in filter(None, candidates) if (Path(c) / "postgres").exists()), None)
    if bin_dir is None:
        pytest.skip("NOT TESTED: xml values need a PostgreSQL built with libxml (Debian's postgresql package, or "
                    "PG_BIN); none is installed here")
    settings, datadir = libxml_server(bin_dir, tmp_path_factory)
    try:
        with psycopg.connect(**conninfo(settings), autocommit=True) as conn:
            try:
                conn.execute("SELECT '<a/>'::xml")
            except psycopg.errors.FeatureNotSupported:
                pytest.skip(f"NOT TESTED: the PostgreSQL in {bin_dir} has no libxml")
        yield settings
    finally:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PG_BIN", bin_dir)
            embedded_pg.stop(datadir)


def test_citext_arrives_as_its_text(xml_pg, tmp_path):
    with psycopg.connect(**conninfo(xml_pg), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS citext")
        conn.execute("DROP SCHEMA IF EXISTS cit CASCADE")
        conn.execute("CREATE SCHEMA cit")
        conn.execute("CREATE TABLE cit.names (id int PRIMARY KEY, name citext)")
        conn.execute("INSERT INTO cit.names VALUES (1, 'MiXeD Case'), (2, 'ünïcode'), (3, ''), (4, NULL)")
    run_sync(tmp_path, connection_config(xml_pg, schemas="cit", sync_validation="false", source_metadata="false"))
    dw = warehouse(tmp_path)
    assert dw.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = 'tester_cit' "
                      "AND table_name = 'names' AND column_name = 'name'").fetchone() == ("VARCHAR",)
    assert dw.execute("SELECT id, name FROM tester_cit.names ORDER BY id").fetchall() == [
        (1, "MiXeD Case"), (2, "ünïcode"), (3, ""), (4, None)]


def test_xml_values_arrive_as_their_text(xml_pg, tmp_path):
    with psycopg.connect(**conninfo(xml_pg), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS xmls CASCADE")
        conn.execute("CREATE SCHEMA xmls")
        conn.execute("CREATE TABLE xmls.docs (id int PRIMARY KEY, body xml)")
        for i, value in enumerate(VALUES, start=1):
            conn.execute("INSERT INTO xmls.docs VALUES (%s, %s::xml)", [i, value])
        want = conn.execute("SELECT id, body::text FROM xmls.docs ORDER BY id").fetchall()
    assert [v for _, v in want] == VALUES, "the server keeps each value's text as given"
    run_sync(tmp_path, connection_config(xml_pg, schemas="xmls", sync_validation="false", source_metadata="false"))
    dw = warehouse(tmp_path)
    assert dw.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = 'tester_xmls' "
                      "AND table_name = 'docs' AND column_name = 'body'").fetchone() == ("VARCHAR",)
    assert dw.execute("SELECT id, body FROM tester_xmls.docs ORDER BY id").fetchall() == want

    import connector_accel as ca

    source = ca.Source(connection_config(xml_pg, schemas="xmls"))
    (table,), _ = source.discover()
    assert table["columns"]["body"] == "XML"
    with source.read("xmls", "docs") as reader:
        rows = {row["id"]: row["body"] for batch in reader for row in batch}
    assert [rows[i] for i in range(1, len(VALUES) + 1)] == VALUES
