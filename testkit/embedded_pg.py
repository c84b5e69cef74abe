"""A real PostgreSQL server for the demo, the tests and the benchmarks, from the binaries the `pgserver` wheel
ships (nothing else is installed on a fresh machine), or from PG_BIN. It listens on 127.0.0.1 with password
(SCRAM) logins, on a unix socket in its data directory, and with TLS when the binaries are built with it
(pgserver's are not; Debian's are).

    python -m testkit.embedded_pg start DATADIR PORT   # from the repository root; prints the settings as JSON
    python -m testkit.embedded_pg stop DATADIR
"""
import datetime
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

USER = "postgres"
PASSWORD = "demo-password"
SERVICE_USER = "pgserver"  # postgres refuses to run as root


def _bin_dir() -> Path:
    """pgserver's binaries, or the directory PG_BIN names (e.g. Debian's, which are built with TLS)."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    from pgserver._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH


def _bin(name: str) -> str:
    return str(_bin_dir() / name)


def supports_tls(bin_dir: Path = None) -> bool:
    """Whether the binaries in `bin_dir` (default: the ones in use) are built with TLS."""
    pg_config = Path(bin_dir or _bin_dir()) / "pg_config"
    configure = subprocess.run([str(pg_config), "--configure"], capture_output=True, text=True).stdout
    return "--with-openssl" in configure or "--with-ssl=openssl" in configure


def _as_service_user() -> dict:
    """subprocess arguments that run a command as the service user when we are root."""
    if os.geteuid() != 0:
        return {}
    return _prepare_service_user(_bin_dir())


@functools.cache
def _prepare_service_user(bin_dir: Path) -> dict:
    """Creates the service user and opens `bin_dir` to it, once per directory (it walks the whole tree)."""
    import stat

    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SERVICE_USER)
    if os.environ.get("PG_BIN"):
        return {"user": SERVICE_USER}
    ensure_prefix_permissions(bin_dir)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", readable)
    return {"user": SERVICE_USER}


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, SERVICE_USER, SERVICE_USER)
        for p in path.rglob("*"):
            shutil.chown(p, SERVICE_USER, SERVICE_USER)


def _write_certificates(datadir: Path) -> None:
    """A CA and a server certificate for `localhost` (deliberately not for 127.0.0.1, so that verify-full fails
    and verify-ca passes when connecting by IP)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def make(subject, issuer, key, signer, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connector_accel test CA")])
    ca_cert = make(ca_name, ca_name, ca_key, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), ca_name, key, ca_key, False)
    pem = serialization.Encoding.PEM
    (datadir / "ca.crt").write_bytes(ca_cert.public_bytes(pem))
    (datadir / "server.crt").write_bytes(cert.public_bytes(pem))
    key_path = datadir / "server.key"
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)


def start(datadir: Path, port: int, conf: dict | None = None) -> dict:
    """Initialises `datadir` if needed and starts the server; returns the connection settings. `conf` adds
    postgresql.conf settings when the directory is initialised (e.g. {"wal_level": "logical"})."""
    datadir = datadir.resolve()
    run_as = _as_service_user()
    if not (datadir / "PG_VERSION").exists():
        datadir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            from pgserver.utils import ensure_prefix_permissions

            ensure_prefix_permissions(datadir)  # the service user must reach it through root's folders
        pwfile = datadir.parent / f".{datadir.name}.pw"
        pwfile.write_text(PASSWORD)
        _chown(datadir)
        if os.geteuid() == 0:
            shutil.chown(pwfile, SERVICE_USER, SERVICE_USER)
        subprocess.run(
            [_bin("initdb"), "-D", str(datadir), "-U", USER, "--pwfile", str(pwfile), "-E", "UTF8", "--locale=C",
             "--auth-local=trust", "--auth-host=scram-sha-256"],
            check=True, capture_output=True, **run_as,
        )
        pwfile.unlink()
        tls = supports_tls()
        if tls:
            _write_certificates(datadir)
        extra = "".join(f"{k} = {v}\n" for k, v in (conf or {}).items())
        with open(datadir / "postgresql.conf", "a") as out:
            out.write(f"\nssl = {'on' if tls else 'off'}\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                      "max_connections = 200\nshared_buffers = 256MB\n"
                      # WAL kept to a few segments (the default keeps up to 1 GB per server): the suite runs several
                      # servers with million-row tables, and a CI machine's disk can be short (a slot retains what
                      # it needs regardless).
                      "max_wal_size = 96MB\nmin_wal_size = 32MB\n" + extra)
        _chown(datadir)
    if not _running(datadir):
        started = subprocess.run(
            [_bin("pg_ctl"), "-D", str(datadir), "-w", "-t", "60", "-l", str(datadir / "server.log"),
             "-o", f"-h 127.0.0.1 -p {port} -k {datadir}", "start"],
            capture_output=True, **run_as,
        )
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL in {datadir} did not start on 127.0.0.1:{port}: {_last_fatal(datadir)}")
    return {"host": "127.0.0.1", "port": str(port), "user": USER, "password": PASSWORD, "database": "postgres",
            "socket_dir": str(datadir), "ca_file": str(datadir / "ca.crt") if (datadir / "ca.crt").exists() else None}


def _last_fatal(datadir: Path) -> str:
    """The server log's last FATAL line, with a hint when it is the port (what a user can act on)."""
    log = datadir / "server.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    fatal = next((line.split("FATAL:", 1)[1].strip() for line in reversed(lines) if "FATAL:" in line), "see server.log")
    if "TCP/IP sockets" in fatal:
        fatal += " (is another server using that port? stop it, or change 'port' in configuration.json)"
    return fatal


def _running(datadir: Path) -> bool:
    result = subprocess.run([_bin("pg_ctl"), "-D", str(datadir), "status"], capture_output=True, **_as_service_user())
    return result.returncode == 0


def stop(datadir: Path) -> bool:
    """Stops the server of `datadir` if it runs; returns whether it did."""
    if not ((datadir / "PG_VERSION").exists() and _running(datadir)):
        return False
    subprocess.run([_bin("pg_ctl"), "-D", str(datadir.resolve()), "-m", "fast", "-w", "stop"],
                   check=True, capture_output=True, **_as_service_user())
    return True


def start_for_this_process(datadir: Path, port: int, conf: dict | None = None) -> dict:
    """`start`, with the server stopped when this process ends: normally, by an exception, by Ctrl-C or by SIGTERM
    (SIGKILL cannot be caught). For benchmarks, which must not leave a server behind whatever happens."""
    import atexit
    import signal

    settings = start(datadir, port, conf)
    atexit.register(stop, datadir)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # so that atexit runs
    return settings


def connection_config(settings: dict, **extra) -> dict:
    """The connector's configuration for a server, every value a string as Fivetran sends them."""
    config = {k: settings[k] for k in ("host", "port", "user", "password", "database")}
    config["sslmode"] = "disable"
    config.update({k: str(v) for k, v in extra.items()})
    return config


def conninfo(settings: dict) -> dict:
    """psycopg's connection arguments for a server."""
    return {"host": settings["host"], "port": settings["port"], "user": settings["user"],
            "password": settings["password"], "dbname": settings["database"]}


def runner(settings: dict):
    """Runs one statement on `settings`' server (autocommit) and returns the rows of the last one."""
    import psycopg  # here, not at the top: the demo starts its server with this module and no psycopg

    def run(statement: str, params=None):
        with psycopg.connect(**conninfo(settings), autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else None
    return run


def psql(settings: dict, sql: str, database: str = None) -> None:
    """Runs SQL through the bundled psql (used to load sample data)."""
    env = dict(os.environ, PGPASSWORD=settings["password"])
    result = subprocess.run(
        [_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", settings["host"], "-p", settings["port"],
         "-U", settings["user"], "-d", database or settings["database"]],
        input=sql.encode(), env=env, capture_output=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"psql failed: {result.stderr.decode(errors='replace').strip()}")


if __name__ == "__main__":
    command, datadir = sys.argv[1], Path(sys.argv[2])
    if command == "start":
        print(json.dumps(start(datadir, int(sys.argv[3]))))
    elif command == "stop":
        stop(datadir)
    else:
        sys.exit(f"unknown command {command}; use start or stop")
