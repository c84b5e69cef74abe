"""Key-pair logins with encrypted private keys (`private_key` + `private_key_password`), against the fixture that
verifies the JWT's signature with the registered public key (testkit/snowflake/server.py): keys encrypted by the
`cryptography` package and by `openssl` as Snowflake's key-pair guide has users make them."""
import subprocess

import pytest
from connector_accel import ConfigurationError, Source
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from testkit import run_sync, warehouse
from testkit.snowflake import Server

PASSPHRASE = "correct horse battery staple"


def public_pem(private_key) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two users' keys, encrypted: one by `cryptography` (PBES2, PBKDF2-SHA256, AES-256-CBC), one by `openssl pkcs8
    -topk8 -v2 des3` (Snowflake's guide's command); both public halves registered for the same user in turn."""
    tmp = tmp_path_factory.mktemp("keys")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(PASSPHRASE.encode())).decode()
    plain = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    (tmp / "cryptography.pub.pem").write_bytes(public_pem(key))
    rsa_pem = subprocess.run(["openssl", "genrsa", "2048"], check=True, capture_output=True).stdout
    des3 = subprocess.run(["openssl", "pkcs8", "-topk8", "-v2", "des3", "-inform", "PEM", "-passout",
                           f"pass:{PASSPHRASE}"], input=rsa_pem, check=True, capture_output=True).stdout.decode()
    loaded = serialization.load_pem_private_key(rsa_pem, password=None)
    (tmp / "openssl.pub.pem").write_bytes(public_pem(loaded))
    return {"cryptography": (encrypted, tmp / "cryptography.pub.pem"), "plain": (plain, None),
            "openssl": (des3, tmp / "openssl.pub.pem")}


def server_for(public) -> Server:
    server = Server.shop("--public-key", str(public))
    server.sql("CREATE OR REPLACE TABLE K (ID NUMBER(38,0) PRIMARY KEY)", "INSERT INTO K VALUES (1), (2), (3)")
    return server


def key_config(server, key, **extra):
    cfg = server.configuration(tables="K", private_key=key.replace("\n", "\\n"), sync_validation="false",
                               source_metadata="false", **extra)
    del cfg["snowflake_password"]
    return cfg


@pytest.fixture(scope="module")
def crypto_server(keys):
    """The fixture with the `cryptography` key's public half registered."""
    server = server_for(keys["cryptography"][1])
    yield server
    server.stop()


def test_a_key_encrypted_by_cryptography_logs_in_and_syncs(keys, crypto_server, tmp_path):
    pem, _ = keys["cryptography"]
    assert "BEGIN ENCRYPTED PRIVATE KEY" in pem
    logins = crypto_server.counts()["logins"]
    run_sync(tmp_path, key_config(crypto_server, pem, private_key_password=PASSPHRASE))
    assert warehouse(tmp_path).execute("SELECT count(*) FROM tester_public.k").fetchone() == (3,)
    assert crypto_server.counts()["logins"] > logins, "logged in by the JWT the fixture verified"


def test_a_key_encrypted_as_snowflakes_guide_says_logs_in_and_bad_passwords_are_one_line(keys):
    pem, public = keys["openssl"]
    server = server_for(public)
    try:
        source = Source(key_config(server, pem, private_key_password=PASSPHRASE))
        (table,), _ = source.discover()
        assert table["table"] == "K" and server.counts()["logins"] == 1
        with pytest.raises(ConfigurationError) as wrong:
            Source(key_config(server, pem, private_key_password="not the passphrase"))
        text = str(wrong.value)
        assert text.startswith("configuration key 'private_key_password': does not decrypt 'private_key'"), text
        assert len(text.splitlines()) == 1 and "not the passphrase" not in text and "PRIVATE KEY-----" not in text
        assert wrong.value.key == "private_key_password"
        with pytest.raises(ConfigurationError) as missing:
            Source(key_config(server, pem))
        text = str(missing.value)
        assert "'private_key_password': is missing" in text and "'private_key' is an encrypted key" in text, text
        assert server.counts()["logins"] == 1, "neither refused key reached the service"
    finally:
        server.stop()


def test_a_password_for_a_key_that_is_not_encrypted_is_warned_unused(keys, crypto_server):
    pem, _ = keys["plain"]
    source = Source(key_config(crypto_server, pem, private_key_password=PASSPHRASE))
    unused = [w for w in source.warnings if "private_key_password" in w]
    assert unused == ["'private_key_password' is unused: 'private_key' is not encrypted (BEGIN PRIVATE KEY); "
                      "remove 'private_key_password'"], source.warnings
    assert PASSPHRASE not in " ".join(source.warnings)
    source.discover()
