"""The one set-up command: idempotent, least-exposed files, mosquitto-compatible hashes."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess

from cryptography import x509

from broker import setup_broker as broker_setup

KEY_AND_SECRET_FILES = [
    "certs/ca.key",
    "certs/server.key",
    "certs/lambda.key",
    "certs/homeassistant.key",
    "secrets/lambda.password",
    "secrets/homeassistant.password",
    "passwd",
]
CERT_FILES = ["certs/ca.crt", "certs/server.crt", "certs/lambda.crt", "certs/homeassistant.crt"]


def file_mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(out_dir) -> dict[str, bytes]:
    return {name: (out_dir / name).read_bytes() for name in KEY_AND_SECRET_FILES + CERT_FILES}


def server_hosts(out_dir) -> set[str]:
    cert = x509.load_pem_x509_certificate((out_dir / "certs" / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)) | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def test_first_run_creates_everything_with_private_modes(tmp_path):
    report = broker_setup.setup_broker(tmp_path, hosts=["broker.home.lan"])

    assert {path.relative_to(tmp_path).as_posix() for path in report.created} == set(
        KEY_AND_SECRET_FILES + CERT_FILES
    )
    assert all(file_mode(tmp_path / name) == 0o600 for name in KEY_AND_SECRET_FILES)
    assert all(file_mode(tmp_path / name) == 0o644 for name in CERT_FILES)
    assert server_hosts(tmp_path) == {"broker.home.lan", "localhost", "127.0.0.1", "::1"}
    lambda_cert = x509.load_pem_x509_certificate((tmp_path / "certs" / "lambda.crt").read_bytes())
    assert lambda_cert.subject.rfc4514_string() == "CN=lambda"


def test_second_run_changes_nothing(tmp_path):
    broker_setup.setup_broker(tmp_path, hosts=["broker.home.lan"])
    before = snapshot(tmp_path)

    report = broker_setup.setup_broker(tmp_path, hosts=["broker.home.lan"])

    assert report.created == [] and report.reissued == []
    assert snapshot(tmp_path) == before
    assert all(file_mode(tmp_path / name) == 0o600 for name in KEY_AND_SECRET_FILES)


def test_rerun_makes_kept_keys_and_secrets_private_again(tmp_path):
    """Files restored from a backup or copied with a loose umask are kept, but made 0600."""
    broker_setup.setup_broker(tmp_path)
    for name in KEY_AND_SECRET_FILES:
        (tmp_path / name).chmod(0o644)

    report = broker_setup.setup_broker(tmp_path)

    assert report.created == [] and report.reissued == []
    assert {name: file_mode(tmp_path / name) for name in KEY_AND_SECRET_FILES} == {
        name: 0o600 for name in KEY_AND_SECRET_FILES
    }


def test_new_host_reissues_only_the_server_cert(tmp_path):
    broker_setup.setup_broker(tmp_path, hosts=["broker.home.lan"])
    before = snapshot(tmp_path)

    report = broker_setup.setup_broker(tmp_path, hosts=["mqtt.example.org"])

    reissued = {path.relative_to(tmp_path).as_posix() for path in report.reissued}
    assert reissued == {"certs/server.crt", "certs/server.key"}
    after = snapshot(tmp_path)
    unchanged = set(before) - reissued
    assert {name for name in unchanged if after[name] != before[name]} == set()
    # Hosts requested earlier stay valid alongside the new one.
    assert {"broker.home.lan", "mqtt.example.org"} <= server_hosts(tmp_path)


def test_force_new_ca_reissues_every_cert_but_keeps_passwords(tmp_path):
    broker_setup.setup_broker(tmp_path)
    before = snapshot(tmp_path)

    broker_setup.setup_broker(tmp_path, force_new_ca=True)

    after = snapshot(tmp_path)
    assert all(after[name] != before[name] for name in CERT_FILES)
    assert after["secrets/lambda.password"] == before["secrets/lambda.password"]
    new_ca = x509.load_pem_x509_certificate(after["certs/ca.crt"])
    server_cert = x509.load_pem_x509_certificate(after["certs/server.crt"])
    server_cert.verify_directly_issued_by(new_ca)


def test_command_line_prints_paths_but_never_secrets(tmp_path):
    printed: list[str] = []

    assert (
        broker_setup.main(["--out", str(tmp_path), "--host", "nas.lan"], print_line=printed.append)
        == 0
    )

    passwords = [
        (tmp_path / "secrets" / f"{user}.password").read_text().strip()
        for user in ("lambda", "homeassistant")
    ]
    assert printed and all(line.startswith("created") for line in printed)
    assert not any(password in line for password in passwords for line in printed)


def test_password_hash_matches_mosquitto_passwd_format(tmp_path):
    mosquitto_passwd = shutil.which("mosquitto_passwd")
    # make test installs it; a missing binary is a broken set-up, not a reason to skip.
    assert mosquitto_passwd is not None, "mosquitto_passwd missing: apt-get install mosquitto"
    passwd_path = tmp_path / "passwd"
    subprocess.run([mosquitto_passwd, "-c", "-b", str(passwd_path), "lambda", "s3cret"], check=True)
    _, hashed = passwd_path.read_text().strip().split(":", 1)

    # The iteration count differs between mosquitto releases (101 in 2.0.11, 1000 later).
    assert re.fullmatch(r"\$7\$[0-9]+\$[^$]+\$[^$]+", hashed)
    assert broker_setup.verify_mosquitto_password("s3cret", hashed)
    assert not broker_setup.verify_mosquitto_password("wrong", hashed)
    ours = broker_setup.hash_mosquitto_password("s3cret")
    ours_parts, theirs_parts = ours.split("$"), hashed.split("$")
    # Salt length differs between releases too; the PBKDF2-SHA512 digest does not.
    assert len(ours_parts[4]) == len(theirs_parts[4])
