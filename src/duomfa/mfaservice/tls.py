"""The local CA and the server certificate the MFA service presents.

duo_client checks host names against DNS subjectAltNames only, so an address such as 127.0.0.1 is written
both as an IP entry (for browsers and aiohttp) and as a DNS entry (for duo_client). Certificates are 0600 like the
keys: everything in the data directory is its owner's only (clients get a copy of ca.pem).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from duomfa.mfaservice.datadir import DataDir, DataDirError, write_private

CA_LIFETIME = datetime.timedelta(days=3650)
SERVER_LIFETIME = datetime.timedelta(days=397)
RENEW_BEFORE = datetime.timedelta(days=30)
DEFAULT_NAMES = ("localhost", "127.0.0.1")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_ca(data_dir: DataDir) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Load the local CA, creating it on first use."""
    if data_dir.ca_cert.exists() and data_dir.ca_key.exists():
        try:
            cert = x509.load_pem_x509_certificate(data_dir.ca_cert.read_bytes())
            key = serialization.load_pem_private_key(data_dir.ca_key.read_bytes(), password=None)
        except ValueError as exc:
            raise DataDirError(f"the local CA in {data_dir.ca_cert.parent} is corrupt ({exc}); restore it from a "
                               "backup") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise DataDirError(f"{data_dir.ca_key} is not an EC key made by duomfa")
        return cert, key
    if data_dir.ca_cert.exists() or data_dir.ca_key.exists():
        raise DataDirError(f"half of the local CA is missing in {data_dir.ca_cert.parent}; restore ca.pem and ca.key "
                           "together")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "duomfa local MFA service"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"duomfa local CA {os.urandom(4).hex()}"),
    ])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(data_dir.ca_key, _key_pem(key))
    write_private(data_dir.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def server_names(host: str) -> list[str]:
    """The names the server certificate must cover when the service listens on `host`."""
    names = list(DEFAULT_NAMES)
    if host not in ("", "0.0.0.0", "::") and host not in names:
        names.append(host)
    return names


def _covered_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return set(san.get_values_for_type(x509.DNSName))


def ensure_server_cert(data_dir: DataDir, names: list[str]) -> None:
    """Make sure the server certificate covers `names` and is not about to expire; reissue it if not."""
    ca_cert, ca_key = ensure_ca(data_dir)
    if data_dir.server_cert.exists() and data_dir.server_key.exists():
        try:
            current = x509.load_pem_x509_certificate(data_dir.server_cert.read_bytes())
        except ValueError:
            current = None
        if (
            current is not None
            and set(names) <= _covered_names(current)
            and current.not_valid_after_utc - _now() > RENEW_BEFORE
            and current.issuer == ca_cert.subject
        ):
            return
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for name in names:
        alt_names.append(x509.DNSName(name))
        with contextlib.suppress(ValueError):  # a host name, not an address
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + SERVER_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write_private(data_dir.server_key, _key_pem(key))
    write_private(data_dir.server_cert, cert.public_bytes(serialization.Encoding.PEM))


def server_ssl_context(data_dir: DataDir) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(data_dir.server_cert, data_dir.server_key)
    return context
