"""A private CA and server certificates made on the spot, for the reference deployment's TLS.

`make_ca(dir)` writes a CA (`ca.pem`, the file clients are given with --tlog-ca-bundle);
`ca.issue(dir, name, ...)` a leaf certificate and key for `localhost` / `127.0.0.1` (or
the names asked), valid now unless told otherwise. The broken variants a TLS check must
reject are parameters: `not_after` in the past (expired), other `names` (wrong name),
issued by a CA the client was not given (unknown issuer).

ECDSA P-256: fast to generate, which matters for tests that make several CAs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA", "LeafFiles", "make_ca"]

DEFAULT_NAMES = ("localhost", "127.0.0.1")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = []
    for name in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            pass
        # An address as a DNS name too: nginx's proxy_ssl_verify matches names only.
        general.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(general)


@dataclass(frozen=True)
class LeafFiles:
    cert: Path  # the leaf certificate, then the CA's (the chain a server sends)
    key: Path


@dataclass(frozen=True)
class CA:
    name: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    path: Path  # PEM of the CA certificate: the bundle clients trust

    def issue(
        self,
        directory: str | Path,
        stem: str = "server",
        *,
        names: tuple[str, ...] = DEFAULT_NAMES,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> LeafFiles:
        """A server certificate for `names` signed by this CA, written as STEM.pem/STEM.key."""
        now = _now()
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(hours=1))
            .not_valid_after(not_after or now + dt.timedelta(days=30))
            .add_extension(_san(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            # Python 3.13 verifies with X509_STRICT, which wants both key identifiers.
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = out / f"{stem}.pem", out / f"{stem}.key"
        chain = cert.public_bytes(serialization.Encoding.PEM)
        chain += self.cert.public_bytes(serialization.Encoding.PEM)
        cert_path.write_bytes(chain)
        key_path.write_bytes(_key_pem(key))
        key_path.chmod(0o600)
        return LeafFiles(cert_path, key_path)


def make_ca(directory: str | Path, name: str = "tlogcheck reference CA") -> CA:
    """A self-signed CA valid for a year, its certificate written to DIR/ca.pem."""
    now = _now()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return CA(name, cert, key, path)
