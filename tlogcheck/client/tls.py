"""TLS for the client: which CAs to trust, and a rejected certificate in plain words.

Trust, first that applies: `--tlog-ca-bundle PATH` (a PEM file or a directory of hashed
certificates), else `SSL_CERT_FILE` / `SSL_CERT_DIR` as OpenSSL and curl read them, else
the system store.

When the handshake fails verification, OpenSSL says only "certificate has expired" or
"unable to get local issuer certificate". An on-call SRE needs the date, the name or the
issuer, so `explain` fetches the certificate again on a connection that does not verify
(`peer_certificate`, bounded by the timeout) and words the reason from it:
`expired on 2026-11-27`, `not valid for tlog.example.com (it names a.example, b.example)`,
`issuer not trusted: CN=Corp Root CA`.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from datetime import datetime, timezone

from cryptography import x509

from tlogcheck.errors import ConfigError

__all__ = ["CA_HINT", "explain", "find_cert_error", "ssl_context", "trust_source"]

CA_HINT = (
    "if the target uses a private CA, give it with --tlog-ca-bundle PATH (env TLOG_CA_BUNDLE)"
)

# OpenSSL's X509_V_ERR_* codes that say "I do not trust whoever signed this".
_UNTRUSTED = frozenset({2, 18, 19, 20, 21, 27})
_EXPIRED, _NOT_YET_VALID = 10, 9
_NAME_MISMATCH = frozenset({62, 64})  # host name, IP address


def trust_source(ca_bundle: str | None) -> str:
    """Where the trusted CAs come from, for the run header."""
    if ca_bundle:
        return f"CA bundle {ca_bundle}"
    for env in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if os.environ.get(env):
            return f"CAs from {env}={os.environ[env]}"
    return "the system's CA store"


def ssl_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying client context trusting `ca_bundle`, else SSL_CERT_FILE/DIR, else the system."""
    try:
        if ca_bundle:
            if os.path.isdir(ca_bundle):
                return ssl.create_default_context(capath=ca_bundle)
            return ssl.create_default_context(cafile=ca_bundle)
        cafile = os.environ.get("SSL_CERT_FILE") or None
        capath = os.environ.get("SSL_CERT_DIR") or None
        if cafile or capath:
            return ssl.create_default_context(cafile=cafile, capath=capath)
        return ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        where = ca_bundle or os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")
        raise ConfigError(f"CA bundle {where}: cannot be loaded: {exc}") from None


def find_cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error at the root of a transport error, if any."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ssl.SSLCertVerificationError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _name(n: x509.Name) -> str:
    return n.rfc4514_string() or "(empty name)"


def _day(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d")


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = [str(v) for v in san.get_values_for_type(x509.DNSName)]
    names += [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    return names


def explain(
    err: ssl.SSLCertVerificationError,
    host: str,
    peer_certificate: Callable[[], bytes | None],
) -> str:
    """The reason real clients reject the certificate of `host`, in plain words."""
    code = getattr(err, "verify_code", None)
    message = getattr(err, "verify_message", None) or str(err)
    der: bytes | None
    try:
        der = peer_certificate()
    except Exception:  # noqa: BLE001 -- the details are a bonus; the reason stands without
        der = None
    cert = None
    if der:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            cert = None
    if cert is None:
        return f"certificate of {host} rejected: {message}"
    subject = _name(cert.subject)
    if code == _EXPIRED:
        return f"certificate of {host} expired on {_day(cert.not_valid_after_utc)} ({subject})"
    if code == _NOT_YET_VALID:
        return (
            f"certificate of {host} not valid before {_day(cert.not_valid_before_utc)} "
            f"({subject})"
        )
    if code in _NAME_MISMATCH:
        names = ", ".join(_dns_names(cert)) or subject
        return f"certificate not valid for {host} (it names {names})"
    if code in _UNTRUSTED:
        return f"issuer not trusted: {_name(cert.issuer)} (certificate of {host}: {message})"
    return f"certificate of {host} rejected: {message} ({subject})"
