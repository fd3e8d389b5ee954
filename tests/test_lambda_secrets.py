"""Bridge configuration and secrets: env validation, Secrets Manager / SSM via moto, TTL cache,
no boto3 on the inline path, and secrets never logged."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
import subprocess
import sys
import urllib.request

import pytest

from lambda_bridge import publisher, settings as bridge_settings
from lambda_bridge.handler import lambda_handler
from lambda_bridge.publisher import ConnectFailed
from lambda_bridge.settings import (
    ConfigError,
    SecretCache,
    SecretFetchError,
    SecretRef,
    load_settings,
)
from tests.lambda_support import SERIAL, broker_env, lambda_context

REPO = Path(__file__).resolve().parent.parent
MINIMAL = {
    "IOT_BACKUP_BROKER_HOST": "mqtt.example.net",
    "IOT_BACKUP_USERNAME": "lambda",
    "IOT_BACKUP_PASSWORD": "s3cret-Value",
}


# --- configuration -----------------------------------------------------------


def test_defaults() -> None:
    settings = load_settings(MINIMAL)
    assert (settings.broker_port, settings.topic_prefix, settings.ack_timeout) == (
        8883,
        "iot_backup",
        0.0,
    )
    assert (settings.connect_timeout, settings.publish_timeout, settings.secret_ttl) == (
        5.0,
        5.0,
        300.0,
    )
    assert settings.ca_cert is None and settings.client_id is None
    assert settings.password == SecretRef("inline", "s3cret-Value", "IOT_BACKUP_PASSWORD")


def test_repr_never_shows_an_inline_secret() -> None:
    assert "s3cret-Value" not in repr(load_settings(MINIMAL))


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"IOT_BACKUP_BROKER_HOST": ""}, "IOT_BACKUP_BROKER_HOST"),
        ({"IOT_BACKUP_BROKER_HOST": "mqtt://host"}, "IOT_BACKUP_BROKER_HOST"),
        ({"IOT_BACKUP_BROKER_PORT": "eighty"}, "IOT_BACKUP_BROKER_PORT"),
        ({"IOT_BACKUP_BROKER_PORT": "70000"}, "IOT_BACKUP_BROKER_PORT"),
        ({"IOT_BACKUP_CA_CERT": "/nonexistent/ca.crt"}, "IOT_BACKUP_CA_CERT"),
        ({"IOT_BACKUP_USERNAME": ""}, "IOT_BACKUP_USERNAME"),
        ({"IOT_BACKUP_PASSWORD": ""}, "IOT_BACKUP_PASSWORD"),
        ({"IOT_BACKUP_PASSWORD_SECRET": "bridge/password"}, "IOT_BACKUP_PASSWORD_SECRET"),
        ({"IOT_BACKUP_CLIENT_CERT": "/nonexistent.crt"}, "IOT_BACKUP_CLIENT_KEY"),
        ({"IOT_BACKUP_CLIENT_KEY_PARAMETER": "/bridge/key"}, "IOT_BACKUP_CLIENT_CERT"),
        ({"IOT_BACKUP_TOPIC_PREFIX": "iot/+"}, "IOT_BACKUP_TOPIC_PREFIX"),
        ({"IOT_BACKUP_TOPIC_PREFIX": "/iot"}, "IOT_BACKUP_TOPIC_PREFIX"),
        ({"IOT_BACKUP_ACK_TIMEOUT": "-1"}, "IOT_BACKUP_ACK_TIMEOUT"),
        ({"IOT_BACKUP_ACK_TIMEOUT": "nan"}, "IOT_BACKUP_ACK_TIMEOUT"),
        ({"IOT_BACKUP_CONNECT_TIMEOUT": "0"}, "IOT_BACKUP_CONNECT_TIMEOUT"),
        ({"IOT_BACKUP_PUBLISH_TIMEOUT": "soon"}, "IOT_BACKUP_PUBLISH_TIMEOUT"),
        ({"IOT_BACKUP_SECRET_TTL": "-5"}, "IOT_BACKUP_SECRET_TTL"),
        ({"IOT_BACKUP_CLIENT_ID": "x" * 41}, "IOT_BACKUP_CLIENT_ID"),
    ],
)
def test_bad_config_names_the_variable(changes: dict[str, str], variable: str) -> None:
    env = {key: value for key, value in (MINIMAL | changes).items() if value}
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.variable == variable
    assert variable in str(caught.value)
    assert "s3cret-Value" not in str(caught.value)


def test_pem_text_is_accepted_without_a_file() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    settings = load_settings(MINIMAL | {"IOT_BACKUP_CA_CERT": pem})
    assert settings.ca_cert == pem


# --- TTL cache (injected clock and fetcher: no sleeps) -----------------------------


def test_secret_cache_honours_the_ttl() -> None:
    now = [1000.0]
    fetches: list[tuple[str, str]] = []
    values = iter(["first", "second"])

    def fetch(kind: str, name: str) -> str:
        fetches.append((kind, name))
        return next(values)

    cache = SecretCache(clock=lambda: now[0], fetch=fetch)
    ref = SecretRef("ssm", "/bridge/password", "IOT_BACKUP_PASSWORD_PARAMETER")
    assert cache.get(ref, ttl=300) == "first"
    now[0] += 299
    assert cache.get(ref, ttl=300) == "first"
    assert len(fetches) == 1
    now[0] += 1
    assert cache.get(ref, ttl=300) == "second"
    assert len(fetches) == 2
    assert cache.get(SecretRef("inline", "x", "IOT_BACKUP_PASSWORD"), ttl=300) == "x"
    assert len(fetches) == 2


# --- AWS via moto's server ---------------------------------------------------------


@pytest.fixture
def aws(socket_enabled, monkeypatch):
    """A moto server on a free port with the AWS env pointing at it; yields boto3 clients."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto's backends live in this process: start each test from an empty account.
    urllib.request.urlopen(
        urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
    ).close()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(bridge_settings, "_CLIENTS", {})
    try:
        yield type(
            "Aws", (), {"secrets": boto3.client("secretsmanager"), "ssm": boto3.client("ssm")}
        )
    finally:
        server.stop()


def test_password_from_secrets_manager_end_to_end(
    bridge, aws, spy, mosquitto_broker, monkeypatch
) -> None:
    _, password = mosquitto_broker.credentials("lambda")
    aws.secrets.create_secret(Name="iot-backup/mqtt-password", SecretString=password)
    monkeypatch.delenv("IOT_BACKUP_PASSWORD")
    monkeypatch.setenv("IOT_BACKUP_PASSWORD_SECRET", "iot-backup/mqtt-password")
    lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
    assert len(spy.messages(1)) == 1


def test_password_from_ssm_end_to_end(bridge, aws, spy, mosquitto_broker, monkeypatch) -> None:
    _, password = mosquitto_broker.credentials("lambda")
    aws.ssm.put_parameter(Name="/iot-backup/mqtt-password", Value=password, Type="SecureString")
    monkeypatch.delenv("IOT_BACKUP_PASSWORD")
    monkeypatch.setenv("IOT_BACKUP_PASSWORD_PARAMETER", "/iot-backup/mqtt-password")
    lambda_handler({"serial": SERIAL, "click_type": "double"}, lambda_context())
    assert len(spy.messages(1)) == 1


def test_client_key_from_secrets_manager_end_to_end(
    bridge, aws, spy, mosquitto_broker, monkeypatch
) -> None:
    _, key = mosquitto_broker.client_cert("lambda")
    aws.secrets.create_secret(Name="iot-backup/client-key", SecretString=key.read_text())
    bridge(listener="mtls")
    monkeypatch.delenv("IOT_BACKUP_CLIENT_KEY")
    monkeypatch.setenv("IOT_BACKUP_CLIENT_KEY_SECRET", "iot-backup/client-key")
    lambda_handler({"serial": SERIAL, "click_type": "long"}, lambda_context())
    assert len(spy.messages(1)) == 1


def test_real_fetches_are_cached_for_the_ttl(aws) -> None:
    """The server holds a new value, yet within the TTL the old one is served: no fetch happened."""
    aws.ssm.put_parameter(Name="/bridge/password", Value="first-value", Type="SecureString")
    now = [0.0]
    cache = SecretCache(clock=lambda: now[0])
    settings = load_settings(
        {
            "IOT_BACKUP_BROKER_HOST": "h",
            "IOT_BACKUP_USERNAME": "u",
            "IOT_BACKUP_PASSWORD_PARAMETER": "/bridge/password",
            "IOT_BACKUP_SECRET_TTL": "60",
        }
    )
    assert bridge_settings.resolve_secret(settings.password, settings, cache) == "first-value"
    aws.ssm.put_parameter(
        Name="/bridge/password", Value="rotated-value", Type="SecureString", Overwrite=True
    )
    now[0] = 59.9
    assert bridge_settings.resolve_secret(settings.password, settings, cache) == "first-value"
    now[0] = 60.0
    assert bridge_settings.resolve_secret(settings.password, settings, cache) == "rotated-value"


def test_missing_secret_names_variable_not_value(aws) -> None:
    settings = load_settings(
        {
            "IOT_BACKUP_BROKER_HOST": "h",
            "IOT_BACKUP_USERNAME": "u",
            "IOT_BACKUP_PASSWORD_SECRET": "nope",
        }
    )
    with pytest.raises(
        SecretFetchError, match=r"IOT_BACKUP_PASSWORD_SECRET: could not read secretsmanager 'nope'"
    ):
        bridge_settings.resolve_secret(settings.password, settings, SecretCache())


def test_refused_credentials_clear_the_secret_cache(
    bridge, aws, mosquitto_broker, monkeypatch
) -> None:
    aws.secrets.create_secret(Name="iot-backup/mqtt-password", SecretString="stale-password")
    monkeypatch.delenv("IOT_BACKUP_PASSWORD")
    monkeypatch.setenv("IOT_BACKUP_PASSWORD_SECRET", "iot-backup/mqtt-password")
    with pytest.raises(ConnectFailed):
        lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
    # Rotated on the server: the next invocation refetches although the TTL has not passed.
    _, password = mosquitto_broker.credentials("lambda")
    aws.secrets.put_secret_value(SecretId="iot-backup/mqtt-password", SecretString=password)
    assert (
        lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())["ack"] is None
    )


# --- secrets never logged; boto3 never imported on the inline path ---------------------


def test_password_never_logged(bridge, mosquitto_broker, spy, caplog, monkeypatch) -> None:
    _, password = mosquitto_broker.credentials("lambda")
    with caplog.at_level(logging.DEBUG):
        lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
        publisher.close()
        monkeypatch.setenv("IOT_BACKUP_PASSWORD", "wrong-" + password)
        with pytest.raises(ConnectFailed) as caught:
            lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
    assert caplog.records
    assert password not in caplog.text
    assert password not in str(caught.value)


def test_inline_secret_click_path_never_imports_boto3(mosquitto_broker) -> None:
    # Heavy modules the click path must not add to what bare paho already loads
    # (on Python 3.14 paho's own logging import brings dataclasses).
    script = (
        "import json, sys\n"
        "import paho.mqtt.client\n"
        "with_paho = set(sys.modules)\n"
        "from lambda_bridge.handler import lambda_handler\n"
        "result = lambda_handler({'serial': 'G030PM0000000001', 'click_type': 'single'}, None)\n"
        "print(json.dumps({'result': result, 'loaded': sorted(m for m in set(sys.modules) - with_paho\n"
        "    if m.split('.')[0] in ('boto3', 'botocore', 'dataclasses', 'jsonschema'))}))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("IOT_BACKUP_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env | broker_env(mosquitto_broker),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["result"]["topic"] == f"iot_backup/{SERIAL}/click"
    assert report["loaded"] == []
