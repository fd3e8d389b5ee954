"""One set-up command for the broker's TLS material and passwords.

Run ``python -m broker.setup_broker [--out DIR] [--host NAME ...] [--force-new-ca]``.
It creates (or keeps) a private CA, a server certificate, client certificates
for ``lambda`` and ``homeassistant``, random passwords and mosquitto's hashed
``passwd`` file. It only needs the ``cryptography`` package: no openssl CLI and
no mosquitto binary, so it also runs on a machine that only uses docker compose.
A second run changes nothing that already exists.
"""

from __future__ import annotations

import argparse
import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
import datetime
import hashlib
import hmac
import ipaddress
import os
from pathlib import Path
import pwd
import secrets
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BROKER_DIR = Path(__file__).resolve().parent
CLIENT_USERS = ("lambda", "homeassistant")
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
CA_VALIDITY = datetime.timedelta(days=3650)
LEAF_VALIDITY = datetime.timedelta(days=825)
# A leaf that expires within this window is reissued on the next run.
RENEW_BEFORE = datetime.timedelta(days=30)
# mosquitto 2.x "$7$" format: PBKDF2-SHA512, 101 iterations, 12-byte salt.
PBKDF2_ITERATIONS = 101
PBKDF2_SALT_BYTES = 12
BROKER_SYSTEM_USER = "mosquitto"

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


@dataclass
class SetupReport:
    """What one set-up run created, reissued and kept (paths, never secrets)."""

    created: list[Path] = field(default_factory=list)
    reissued: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable lines, one per file."""
        return (
            [f"created  {path}" for path in self.created]
            + [f"reissued {path}" for path in self.reissued]
            + [f"kept     {path}" for path in self.kept]
        )


def _write_file(path: Path, content: bytes, mode: int) -> None:
    """Write atomically with the final mode set before any byte lands on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_path = path.with_name(path.name + ".tmp")
    fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, content)
    finally:
        os.close(fd)
    os.chmod(temp_path, mode)
    os.replace(temp_path, path)


def _keep_secret(path: Path, report: SetupReport) -> None:
    """Record ``path`` as kept, making it private again: it may come from a loose copy."""
    if path.stat().st_mode & 0o777 != SECRET_MODE:  # a file handed to mosquitto needs no chmod
        os.chmod(path, SECRET_MODE)
    report.kept.append(path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _host_to_san(host: str) -> x509.GeneralName:
    """An IP literal becomes an IPAddress SAN, anything else a DNSName SAN."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _san_hosts(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return names | set(san.get_values_for_type(x509.DNSName))


def _normalise_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower()


def _issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _needs_renewal(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - _now() < RENEW_BEFORE


def ensure_ca(certs_dir: Path, report: SetupReport, force_new: bool = False):
    """Load the CA from ``certs_dir/ca.crt``+``ca.key``, creating it if missing.

    Returns ``(ca_cert, ca_key)``. An existing CA is never replaced unless
    ``force_new`` is true.
    """
    cert_path, key_path = certs_dir / "ca.crt", certs_dir / "ca.key"
    if cert_path.exists() and key_path.exists() and not force_new:
        report.kept.append(cert_path)
        _keep_secret(key_path, report)
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), _load_key(key_path)
    ca_key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "iot-backup private CA")])
    now = _now()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_file(key_path, _key_pem(ca_key), SECRET_MODE)
    _write_file(cert_path, ca_cert.public_bytes(serialization.Encoding.PEM), PUBLIC_MODE)
    (report.reissued if force_new else report.created).extend([cert_path, key_path])
    return ca_cert, ca_key


def _issue_leaf(ca_cert, ca_key, common_name: str, hosts: Iterable[str], server: bool):
    leaf_key = _new_key()
    now = _now()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_host_to_san(host) for host in hosts]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256()), leaf_key


def ensure_leaf_cert(
    certs_dir: Path,
    name: str,
    ca_cert,
    ca_key,
    report: SetupReport,
    hosts: Iterable[str] = (),
    server: bool = False,
) -> tuple[Path, Path]:
    """Keep ``certs_dir/<name>.crt``+``.key`` if valid, else issue them from the CA.

    A server cert is reissued when it lacks one of ``hosts`` in its SANs; any
    cert is reissued when not signed by the current CA or close to expiry.
    Returns ``(cert_path, key_path)``.
    """
    cert_path, key_path = certs_dir / f"{name}.crt", certs_dir / f"{name}.key"
    wanted_hosts = {_normalise_host(host) for host in hosts}
    if cert_path.exists() and key_path.exists():
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        missing_hosts = wanted_hosts - _san_hosts(existing)
        if _issued_by(existing, ca_cert) and not missing_hosts and not _needs_renewal(existing):
            report.kept.append(cert_path)
            _keep_secret(key_path, report)
            return cert_path, key_path
        wanted_hosts |= _san_hosts(existing) if server else set()
        destination = report.reissued
    else:
        destination = report.created
    leaf_cert, leaf_key = _issue_leaf(ca_cert, ca_key, name, sorted(wanted_hosts), server)
    _write_file(key_path, _key_pem(leaf_key), SECRET_MODE)
    _write_file(cert_path, leaf_cert.public_bytes(serialization.Encoding.PEM), PUBLIC_MODE)
    destination += [cert_path, key_path]
    return cert_path, key_path


def ensure_password(secrets_dir: Path, user: str, report: SetupReport) -> str:
    """Return the password in ``secrets_dir/<user>.password``, creating a random one."""
    path = secrets_dir / f"{user}.password"
    if path.exists():
        _keep_secret(path, report)
        return path.read_text().strip()
    password = secrets.token_urlsafe(32)
    _write_file(path, (password + "\n").encode(), SECRET_MODE)
    report.created.append(path)
    return password


def hash_mosquitto_password(password: str, salt: bytes | None = None) -> str:
    """Hash ``password`` in mosquitto 2.x's ``$7$`` (PBKDF2-SHA512) passwd format."""
    salt = salt if salt is not None else secrets.token_bytes(PBKDF2_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_mosquitto_password(password: str, hashed: str) -> bool:
    """True if ``hashed`` (a ``$7$`` passwd entry) matches ``password``."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    iterations, salt, expected = (
        int(parts[2]),
        base64.b64decode(parts[3]),
        base64.b64decode(parts[4]),
    )
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)


def ensure_passwd_file(passwd_path: Path, passwords: dict[str, str], report: SetupReport) -> None:
    """Write mosquitto's hashed ``passwd`` unless it already matches ``passwords``."""
    if passwd_path.exists():
        entries = dict(
            line.split(":", 1) for line in passwd_path.read_text().splitlines() if ":" in line
        )
        if entries.keys() == passwords.keys() and all(
            verify_mosquitto_password(password, entries[user])
            for user, password in passwords.items()
        ):
            _keep_secret(passwd_path, report)
            return
        destination = report.reissued
    else:
        destination = report.created
    content = "".join(f"{user}:{hash_mosquitto_password(pw)}\n" for user, pw in passwords.items())
    _write_file(passwd_path, content.encode(), SECRET_MODE)
    destination.append(passwd_path)


def _hand_to_broker_user(paths: Iterable[Path]) -> None:
    """chown broker-read files to ``mosquitto``: started as root it drops to that user."""
    if os.geteuid() != 0:
        return
    try:
        broker_user = pwd.getpwnam(BROKER_SYSTEM_USER)
    except KeyError:
        return
    for path in paths:
        os.chown(path, broker_user.pw_uid, broker_user.pw_gid)


def setup_broker(
    out_dir: Path = BROKER_DIR,
    hosts: Iterable[str] = (),
    force_new_ca: bool = False,
) -> SetupReport:
    """Create or keep all broker TLS material and passwords under ``out_dir``.

    Layout: ``certs/{ca,server,lambda,homeassistant}.{crt,key}``,
    ``secrets/<user>.password`` and ``passwd``. The server cert covers
    ``hosts`` plus localhost, 127.0.0.1 and ::1. Returns what was done.
    """
    out_dir = Path(out_dir)
    certs_dir, secrets_dir = out_dir / "certs", out_dir / "secrets"
    certs_dir.mkdir(parents=True, exist_ok=True)
    secrets_dir.mkdir(parents=True, exist_ok=True)
    # The broker (non-root user) must traverse certs/; secrets/ is for the operator only.
    os.chmod(certs_dir, 0o755)
    os.chmod(secrets_dir, 0o700)
    report = SetupReport()
    ca_cert, ca_key = ensure_ca(certs_dir, report, force_new=force_new_ca)
    server_hosts = list(dict.fromkeys([*hosts, *DEFAULT_HOSTS]))
    _, server_key = ensure_leaf_cert(
        certs_dir, "server", ca_cert, ca_key, report, hosts=server_hosts, server=True
    )
    for user in CLIENT_USERS:
        ensure_leaf_cert(certs_dir, user, ca_cert, ca_key, report)
    passwords = {user: ensure_password(secrets_dir, user, report) for user in CLIENT_USERS}
    passwd_path = out_dir / "passwd"
    ensure_passwd_file(passwd_path, passwords, report)
    _hand_to_broker_user([server_key, passwd_path])
    return report


def main(argv: list[str] | None = None, print_line: Callable[[str], None] = print) -> int:
    """Command-line entry point; prints created/reissued/kept paths, never secrets."""
    parser = argparse.ArgumentParser(
        prog="python -m broker.setup_broker", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--out", type=Path, default=BROKER_DIR, help="output folder (default: broker/)"
    )
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        help="extra host name or IP for the server cert (repeatable)",
    )
    parser.add_argument(
        "--force-new-ca", action="store_true", help="replace the CA and every cert it signed"
    )
    args = parser.parse_args(argv)
    report = setup_broker(args.out, args.host, args.force_new_ca)
    for line in report.lines():
        print_line(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
