"""TLS with libpq's sslmode meanings, against a real server with a certificate for `localhost` signed by a test
CA. pgserver's binaries have no TLS, so this uses Debian's PostgreSQL (PG_BIN, or /usr/lib/postgresql/*/bin,
which .ci/run installs)."""
import glob
import os
from pathlib import Path

import connector_accel as ca
import psycopg
import pytest

from testkit import connection_config, conninfo, embedded_pg, free_port


def tls_bin_dir():
    candidates = [os.environ.get("PG_BIN", "")] + sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    return next((c for c in filter(None, candidates) if embedded_pg.supports_tls(Path(c))), None)


@pytest.fixture(scope="module")
def tls_pg(tmp_path_factory):
    bin_dir = tls_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL built with TLS here; .ci/run installs Debian's postgresql for this test")
    datadir = tmp_path_factory.mktemp("tlspg") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PG_BIN", bin_dir)
        yield embedded_pg.start(datadir, free_port())
        embedded_pg.stop(datadir)


def discover(settings, **extra):
    return ca.Source(connection_config(settings, **extra)).discover()


def session_uses_tls(settings, config=None, **extra) -> bool:
    """Whether the server sees the connector's session as TLS (pg_stat_ssl), asked while a snapshot holds it open."""
    with ca.Source(config or connection_config(settings, **extra)).export_snapshot():
        with psycopg.connect(**conninfo(settings)) as conn:
            found = conn.execute("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                                 "WHERE a.application_name = 'connector_accel snapshot'").fetchall()
    assert len(found) == 1, found
    return found[0][0]


def test_require_encrypts_without_checking_identity(tls_pg):
    discover(tls_pg, sslmode="require")
    assert session_uses_tls(tls_pg, sslmode="require")
    assert not session_uses_tls(tls_pg, sslmode="disable"), "the check tells a plain session from a TLS one"


def test_verify_full_checks_the_host_name(tls_pg):
    ca_pem = Path(tls_pg["ca_file"]).read_text()
    assert session_uses_tls(tls_pg, sslmode="verify-full", sslrootcert=tls_pg["ca_file"], host="localhost")
    assert session_uses_tls(tls_pg, sslmode="verify-full", sslrootcert=ca_pem, host="localhost")  # PEM text, not a path
    with pytest.raises(ca.SourceConnectionError) as err:  # the certificate names localhost, not 127.0.0.1
        discover(tls_pg, sslmode="verify-full", sslrootcert=tls_pg["ca_file"], host="127.0.0.1")
    assert "certificate" in str(err.value).lower()


def test_verify_ca_checks_the_chain_but_not_the_name(tls_pg, tmp_path):
    assert session_uses_tls(tls_pg, sslmode="verify-ca", sslrootcert=tls_pg["ca_file"], host="127.0.0.1")
    other = tmp_path / "other-ca.pem"
    embedded_pg._write_certificates(tmp_path)  # a different CA, which did not sign the server's certificate
    other.write_text((tmp_path / "ca.crt").read_text())
    with pytest.raises(ca.SourceConnectionError) as err:
        discover(tls_pg, sslmode="verify-ca", sslrootcert=str(other), host="127.0.0.1")
    assert "certificate" in str(err.value).lower()


def test_sslmode_from_a_dsn(tls_pg):
    dsn = (f"postgresql://{tls_pg['user']}:{tls_pg['password']}@localhost:{tls_pg['port']}/postgres"
           f"?sslmode=verify-full&sslrootcert={tls_pg['ca_file']}")
    assert session_uses_tls(tls_pg, config={"dsn": dsn})
