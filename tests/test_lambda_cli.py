"""``python -m lambda_bridge press`` end to end in a subprocess against the real broker."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from tests.lambda_support import SERIAL

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean_env = {
        key: value for key, value in os.environ.items() if not key.startswith("IOT_BACKUP_")
    }
    return subprocess.run(
        [sys.executable, "-m", "lambda_bridge", *args],
        cwd=REPO,
        env=clean_env | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def broker_args(broker, tmp_path: Path, user: str = "lambda") -> list[str]:
    username, password = broker.credentials(user)
    password_file = tmp_path / "password"
    password_file.write_text(password + "\n")
    return [
        "--host",
        "localhost",
        "--port",
        str(broker.tls_port),
        "--ca",
        str(broker.ca_cert),
        "--username",
        username,
        "--password-file",
        str(password_file),
    ]


def test_press_publishes_and_reports_the_ack(mosquitto_broker, acker, tmp_path) -> None:
    done = run_cli(
        "press",
        "--serial",
        SERIAL,
        "--click",
        "double",
        "--battery-mv",
        "1500",
        "--ack-timeout",
        "5",
        *broker_args(mosquitto_broker, tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert f"published on iot_backup/{SERIAL}/click: " in done.stdout
    assert "ack: accepted" in done.stdout
    [click] = acker.clicks
    assert (click.serial, click.click_type, click.battery_mv, click.source) == (
        SERIAL,
        "double",
        1500,
        "test",
    )
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["id"] == click.id and outcome["ack"] == "accepted"


def test_press_reads_env_defaults(mosquitto_broker, spy) -> None:
    username, password = mosquitto_broker.credentials("lambda")
    env = {
        "IOT_BACKUP_BROKER_HOST": "localhost",
        "IOT_BACKUP_BROKER_PORT": str(mosquitto_broker.tls_port),
        "IOT_BACKUP_CA_CERT": str(mosquitto_broker.ca_cert),
        "IOT_BACKUP_USERNAME": username,
        "IOT_BACKUP_PASSWORD": password,
    }
    done = run_cli("press", "--serial", SERIAL, "--click", "long", "--id", "cli-env-1", env=env)
    assert done.returncode == 0, done.stderr
    assert "ack: not awaited" in done.stdout
    [message] = spy.messages(1)
    assert json.loads(message.payload)["id"] == "cli-env-1"


def test_press_with_client_certificate(mosquitto_broker, spy) -> None:
    cert, key = mosquitto_broker.client_cert("lambda")
    done = run_cli(
        "press",
        "--serial",
        SERIAL,
        "--click",
        "single",
        "--host",
        "localhost",
        "--port",
        str(mosquitto_broker.mtls_port),
        "--ca",
        str(mosquitto_broker.ca_cert),
        "--cert",
        str(cert),
        "--key",
        str(key),
    )
    assert done.returncode == 0, done.stderr
    assert len(spy.messages(1)) == 1


def test_rejected_ack_exits_non_zero(mosquitto_broker, acker, tmp_path) -> None:
    acker.status, acker.reason = "rejected", "unknown_serial"
    done = run_cli(
        "press",
        "--serial",
        SERIAL,
        "--click",
        "single",
        "--ack-timeout",
        "5",
        *broker_args(mosquitto_broker, tmp_path),
    )
    assert done.returncode == 1
    assert "ack: rejected (unknown_serial)" in done.stdout


def test_ack_timeout_exits_non_zero(mosquitto_broker, acker, tmp_path) -> None:
    acker.status = None
    done = run_cli(
        "press",
        "--serial",
        SERIAL,
        "--click",
        "single",
        "--ack-timeout",
        "0.5",
        *broker_args(mosquitto_broker, tmp_path),
    )
    assert done.returncode == 1
    assert "AckTimeout: no ack for click" in done.stderr


def test_acl_denial_exits_non_zero(mosquitto_broker, spy, tmp_path) -> None:
    done = run_cli(
        "press",
        "--serial",
        SERIAL,
        "--click",
        "single",
        "--prefix",
        "other",
        *broker_args(mosquitto_broker, tmp_path),
    )
    assert done.returncode == 1
    assert "0x87" in done.stderr
    spy.assert_nothing(0.1)


def test_wrong_password_exits_non_zero_without_echoing_it(mosquitto_broker, tmp_path) -> None:
    (tmp_path / "wrong").write_text("hunter2-wrong")
    args = broker_args(mosquitto_broker, tmp_path)
    args[args.index("--password-file") + 1] = str(tmp_path / "wrong")
    done = run_cli("press", "--serial", SERIAL, "--click", "single", *args)
    assert done.returncode == 1
    assert "ConnectFailed" in done.stderr and "hunter2-wrong" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--serial", "a/b", "--click", "single", "--host", "localhost", "--username", "u"],
            "invalid press: serial",
        ),
        (
            ["--serial", SERIAL, "--click", "single"],
            "configuration: IOT_BACKUP_BROKER_HOST is required",
        ),
        (
            [
                "--serial",
                SERIAL,
                "--click",
                "single",
                "--host",
                "localhost",
                "--port",
                "x",
                "--username",
                "u",
                "--password-file",
                "/nonexistent",
            ],
            "--password-file: cannot read",
        ),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str) -> None:
    done = run_cli("press", *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_unknown_click_type_is_a_usage_error() -> None:
    done = run_cli("press", "--serial", SERIAL, "--click", "triple")
    assert done.returncode == 2
    assert "invalid choice: 'triple'" in done.stderr
