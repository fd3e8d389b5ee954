"""The Lambda bridge against a real Mosquitto over real TLS: delivery, acks, ACL, auth, restarts.

Subscribers and the test acker connect as ``homeassistant``; the bridge as ``lambda``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
import logging
from pathlib import Path
import socket
import tempfile
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization
import pytest

from broker import setup_broker as broker_setup
from lambda_bridge import protocol, publisher
from lambda_bridge.events import InvalidEvent
from lambda_bridge.handler import lambda_handler
from lambda_bridge.publisher import AckTimeout, ConnectFailed, PublishFailed
from lambda_bridge.settings import ConfigError
from tests.lambda_support import (
    MALFORMED_EVENTS,
    ONE_CLICK,
    SERIAL,
    lambda_context,
    vector_as_raw_event,
    vector_as_test_event,
)
from tests.vectors import load_vectors


def _recent(ts: str) -> bool:
    return abs(datetime.now(UTC) - protocol.parse_timestamp(ts)) < timedelta(seconds=30)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            {
                "serialNumber": SERIAL,
                "batteryVoltage": "1615mV",
                "clickType": "SINGLE",
                "eventId": "0b8a1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
                "timestamp": 1769860800250,
            },
            {
                "v": 1,
                "id": "0b8a1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
                "serial": SERIAL,
                "click_type": "single",
                "battery_mv": 1615,
                "ts": "2026-01-31T12:00:00.250Z",
                "source": "iot_button",
            },
            id="iot_button_rule_fields",
        ),
        pytest.param(
            {"serialNumber": SERIAL, "batteryVoltage": "1490mV", "clickType": "LONG"},
            {
                "v": 1,
                "id": "3f2b8c1e-0d4a-4e6b-9a1c-7d5e2f8a9b0c",
                "serial": SERIAL,
                "click_type": "long",
                "battery_mv": 1490,
                "ts": None,
                "source": "iot_button",
            },
            id="iot_button_bare",
        ),
        pytest.param(
            ONE_CLICK,
            {
                "v": 1,
                "id": None,
                "serial": SERIAL,
                "click_type": "double",
                "battery_mv": None,
                "ts": "2018-05-04T23:26:33.747Z",
                "source": "iot_1click",
            },
            id="iot_1click",
        ),
        pytest.param(
            {"serial": "kitchen-2", "click_type": "double", "battery_mv": 1500},
            {
                "v": 1,
                "id": "3f2b8c1e-0d4a-4e6b-9a1c-7d5e2f8a9b0c",
                "serial": "kitchen-2",
                "click_type": "double",
                "battery_mv": 1500,
                "ts": None,
                "source": "test",
            },
            id="direct_test",
        ),
    ],
)
def test_each_event_form_arrives_exactly(bridge, spy, event: dict, expected: dict) -> None:
    result = lambda_handler(event, lambda_context())
    [message] = spy.messages(1)
    spy.assert_nothing(0.1)
    assert message.topic == f"iot_backup/{expected['serial']}/click"
    assert message.qos == 1 and not message.retain
    received = json.loads(message.payload)
    assert list(received) == ["v", "id", "serial", "click_type", "battery_mv", "ts", "source"]
    if expected["id"] is None:
        expected["id"] = received["id"]
        assert received["id"].startswith("1click-")
    if expected["ts"] is None:
        assert _recent(received["ts"])
        expected["ts"] = received["ts"]
    assert received == expected
    assert protocol.parse_click(message.payload).id == result["id"]
    assert result == {
        "id": expected["id"],
        "serial": expected["serial"],
        "click_type": expected["click_type"],
        "topic": message.topic,
        "ack": None,
        "reason": None,
    }


@pytest.mark.parametrize(
    ("status", "reason"), [("accepted", None), ("duplicate", None), ("rejected", "stale")]
)
def test_ack_outcomes(bridge, acker, caplog, status: str, reason: str | None) -> None:
    bridge(ack_timeout="5")
    acker.status, acker.reason = status, reason
    # Acks for other clicks arrive first and must be ignored.
    acker.extra_acks = [protocol.build_ack("someone-else", "rejected", "invalid")]
    with caplog.at_level(logging.INFO, logger="lambda_bridge"):
        result = lambda_handler(
            {"serial": SERIAL, "click_type": "single"}, lambda_context("ack-test-1")
        )
    assert (result["ack"], result["reason"]) == (status, reason)
    assert [click.id for click in acker.clicks] == ["ack-test-1"]
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert bool(warnings) == (status == "rejected")


def test_warm_invocations_reuse_the_connection_and_subscription(bridge, acker) -> None:
    bridge(ack_timeout="5")
    lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context("warm-1"))
    first = publisher._CONNECTION
    result = lambda_handler({"serial": SERIAL, "click_type": "double"}, lambda_context("warm-2"))
    assert publisher._CONNECTION is first
    assert first.subscribed == {f"iot_backup/{SERIAL}/ack"}
    assert result["ack"] == "accepted"


def test_ack_timeout_raises_after_delivery(bridge, acker, spy) -> None:
    bridge(ack_timeout="0.5")
    acker.status = None  # the consumer stays silent
    started = time.monotonic()
    with pytest.raises(
        AckTimeout, match=r"no ack for click late-1 on iot_backup/G030PM0000000001/ack"
    ):
        lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context("late-1"))
    assert time.monotonic() - started < 3
    assert [click.id for click in acker.clicks] == ["late-1"]


def test_no_thread_is_left_behind(bridge, spy) -> None:
    before = set(threading.enumerate())
    lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
    publisher.close()
    assert set(threading.enumerate()) <= before


def test_tcp_nodelay_is_set(bridge) -> None:
    lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
    sock = publisher._CONNECTION.client.socket()
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


@pytest.mark.parametrize(
    ("name", "event", "field"), MALFORMED_EVENTS, ids=[m[0] for m in MALFORMED_EVENTS]
)
def test_malformed_event_publishes_nothing(bridge, spy, name: str, event, field: str) -> None:
    with pytest.raises(InvalidEvent):
        lambda_handler(event, lambda_context())
    assert publisher._CONNECTION is None  # validation happens before any connection
    spy.assert_nothing(0.05)


def test_every_invalid_vector_publishes_nothing(bridge, spy) -> None:
    vectors = load_vectors("click-invalid")
    for vector in vectors:
        for event in (vector_as_raw_event(vector), vector_as_test_event(vector)):
            if event is None:
                continue
            with pytest.raises(InvalidEvent):
                lambda_handler(event, lambda_context())
    assert publisher._CONNECTION is None
    spy.assert_nothing(0.3)


def test_bad_config_publishes_nothing(bridge, spy) -> None:
    bridge(topic_prefix="iot_backup/#")
    with pytest.raises(ConfigError) as caught:
        lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
    assert caught.value.variable == "IOT_BACKUP_TOPIC_PREFIX"
    spy.assert_nothing(0.1)


def test_acl_denied_publish_raises_with_0x87(bridge, spy) -> None:
    bridge(topic_prefix="other")
    with pytest.raises(PublishFailed, match="0x87") as caught:
        lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
    assert caught.value.reason_code == 0x87
    spy.assert_nothing(0.1)


def test_acl_denied_ack_subscription_raises(bridge, spy) -> None:
    bridge(topic_prefix="other", ack_timeout="1")
    with pytest.raises(PublishFailed, match="0x87") as caught:
        lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
    assert caught.value.reason_code == 0x87


def test_client_certificate_auth(bridge, acker) -> None:
    bridge(listener="mtls", ack_timeout="5")
    result = lambda_handler({"serial": SERIAL, "click_type": "long"}, lambda_context("mtls-1"))
    assert result["ack"] == "accepted"


def test_pem_text_for_ca_cert_and_key(bridge, mosquitto_broker, spy) -> None:
    cert, key = mosquitto_broker.client_cert("lambda")
    bridge(
        listener="mtls",
        ca_cert=mosquitto_broker.ca_cert.read_text(),
        client_cert=cert.read_text(),
        client_key=key.read_text(),
    )
    lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
    assert len(spy.messages(1)) == 1


def test_wrong_password_is_refused(bridge, spy) -> None:
    bridge(password="not-the-password")
    with pytest.raises(ConnectFailed) as caught:
        lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
    assert caught.value.reason_code in (0x86, 0x87)
    assert "not-the-password" not in str(caught.value)


def test_certificate_of_another_ca_is_refused(bridge, mosquitto_broker, tmp_path) -> None:
    # A self-signed stand-in: the system store does not trust the broker either.
    bridge(ca_cert="")
    with pytest.raises(ConnectFailed, match="TLS verification"):
        lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())


def test_host_name_is_checked(bridge, broker_material, mosquitto_with_config_changes) -> None:
    """A broker whose certificate, from the trusted CA, names another host is refused."""
    ca_cert = x509.load_pem_x509_certificate((broker_material / "certs" / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key(
        (broker_material / "certs" / "ca.key").read_bytes(), password=None
    )
    cert, key = broker_setup._issue_leaf(ca_cert, ca_key, "server", ["broker.example.lan"], True)
    folder = Path(tempfile.mkdtemp(prefix="other-host-", dir=broker_material.parent))
    folder.chmod(0o755)
    (folder / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = folder / "server.key"
    key_path.write_bytes(broker_setup._key_pem(key))
    key_path.chmod(0o600)
    broker_setup._hand_to_broker_user([key_path])
    other_host_broker = mosquitto_with_config_changes(
        {
            "certfile /mosquitto/config/certs/server.crt": f"certfile {folder}/server.crt",
            "keyfile /mosquitto/config/certs/server.key": f"keyfile {key_path}",
        }
    )
    bridge(broker_port=str(other_host_broker.tls_port))
    with pytest.raises(ConnectFailed, match="TLS verification"):
        lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())


def test_connect_timeout_bounds_a_silent_server(bridge, socket_enabled) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        bridge(broker_port=str(silent.getsockname()[1]), connect_timeout="0.5")
        started = time.monotonic()
        with pytest.raises(ConnectFailed):
            lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context())
        assert time.monotonic() - started < 2.5


def test_broker_restart_between_warm_invocations(bridge, mosquitto_broker, mqtt_connect) -> None:
    lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context("before-restart"))
    mosquitto_broker.restart()
    outcome = mqtt_connect("homeassistant")
    assert outcome.client.subscribe("iot_backup/#") == [1]
    result = lambda_handler(
        {"serial": SERIAL, "click_type": "double"}, lambda_context("after-restart")
    )
    [message] = outcome.client.wait_for_messages(1)
    assert json.loads(message.payload)["id"] == "after-restart" == result["id"]


def test_connection_lost_before_puback_republishes_same_id(bridge, spy, monkeypatch) -> None:
    lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context("warm-up"))
    spy.messages(1)
    connection = publisher._CONNECTION
    real_publish = connection.client.publish

    def publish_then_drop(*args, **kwargs):
        info = real_publish(*args, **kwargs)
        connection.client.socket().shutdown(socket.SHUT_RDWR)  # the link dies before the PUBACK
        return info

    monkeypatch.setattr(connection.client, "publish", publish_then_drop)
    result = lambda_handler({"serial": SERIAL, "click_type": "long"}, lambda_context("lost-1"))
    assert publisher._CONNECTION is not connection
    # At least once: the first copy may have reached the broker too; same id, deduped downstream.
    messages = spy.messages(2, timeout=1.0)
    assert 1 <= len(messages) <= 2
    assert {json.loads(m.payload)["id"] for m in messages} == {"lost-1"} == {result["id"]}


def test_containers_from_one_snapshot_do_not_take_over_each_other(bridge, acker) -> None:
    """SnapStart restores many containers from one memory image, module state included:
    each connection still needs its own client id, or the broker drops the older one."""
    bridge(ack_timeout="5")
    lambda_handler({"serial": SERIAL, "click_type": "single"}, lambda_context("container-a"))
    container_a = publisher._CONNECTION
    publisher._CONNECTION = None  # a second container, restored from the same snapshot
    try:
        lambda_handler({"serial": SERIAL, "click_type": "double"}, lambda_context("container-b"))
        container_b = publisher._CONNECTION
        time.sleep(0.3)
        assert container_a.alive, "the broker dropped container A's connection"
        assert container_b.alive
    finally:
        container_a.close()
