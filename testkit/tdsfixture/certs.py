"""The certificate SQL Server makes for itself when none is configured (the default on most installations): self-
signed, named CN=SSL_Self_Signed_Fallback, and a CA certificate (basic constraints CA:TRUE) used as the server's own,
which is what a verifying client refuses as "CA used as end entity"."""
import datetime
import ssl
from pathlib import Path


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server-side TLS context presenting such a certificate, written to `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SSL_Self_Signed_Fallback")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (directory / "self_signed.crt").write_bytes(cert.public_bytes(pem))
    (directory / "self_signed.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "self_signed.crt", directory / "self_signed.key")
    context.num_tickets = 0  # TLS 1.3 session tickets would follow the handshake outside the PRELOGIN wrapping
    return context
