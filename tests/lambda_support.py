"""Test support for the Lambda bridge tests: env set-up, a spy subscriber and a test acker.

Fixtures here are imported by the tests/test_lambda_*.py modules that use them.
"""

from __future__ import annotations

import queue
import time
from types import SimpleNamespace

import pytest

from lambda_bridge import protocol, publisher, settings as bridge_settings

SERIAL = "G030PM0000000001"
ENV_VARS = (
    "BROKER_HOST",
    "BROKER_PORT",
    "CA_CERT",
    "USERNAME",
    "PASSWORD",
    "PASSWORD_SECRET",
    "PASSWORD_PARAMETER",
    "CLIENT_CERT",
    "CLIENT_KEY",
    "CLIENT_KEY_SECRET",
    "CLIENT_KEY_PARAMETER",
    "TOPIC_PREFIX",
    "ACK_TIMEOUT",
    "CONNECT_TIMEOUT",
    "PUBLISH_TIMEOUT",
    "SECRET_TTL",
    "CLIENT_ID",
)


# The AWS IoT 1-Click event of a double press, as the tests send it.
ONE_CLICK = {
    "deviceInfo": {
        "deviceId": SERIAL,
        "type": "button",
        "remainingLife": 98.7,
        "attributes": {"room": "hall"},
    },
    "deviceEvent": {
        "buttonClicked": {"clickType": "DOUBLE", "reportedTime": "2018-05-04T23:26:33.747Z"}
    },
    "placementInfo": {
        "projectName": "backup",
        "placementName": "hall",
        "attributes": {},
        "devices": {},
    },
}


def lambda_context(request_id: str = "3f2b8c1e-0d4a-4e6b-9a1c-7d5e2f8a9b0c") -> SimpleNamespace:
    """A stand-in for the Lambda context object (only aws_request_id is read)."""
    return SimpleNamespace(aws_request_id=request_id, function_name="iot-backup-bridge")


def broker_env(broker, user: str = "lambda", listener: str = "tls", **extra: str) -> dict[str, str]:
    """IOT_BACKUP_* variables pointing the bridge at ``broker`` as ``user``."""
    env = {"IOT_BACKUP_BROKER_HOST": broker.host, "IOT_BACKUP_CA_CERT": str(broker.ca_cert)}
    if listener == "tls":
        username, password = broker.credentials(user)
        env |= {
            "IOT_BACKUP_BROKER_PORT": str(broker.tls_port),
            "IOT_BACKUP_USERNAME": username,
            "IOT_BACKUP_PASSWORD": password,
        }
    else:
        cert, key = broker.client_cert(user)
        env |= {
            "IOT_BACKUP_BROKER_PORT": str(broker.mtls_port),
            "IOT_BACKUP_CLIENT_CERT": str(cert),
            "IOT_BACKUP_CLIENT_KEY": str(key),
        }
    env |= {f"IOT_BACKUP_{name.upper()}": value for name, value in extra.items()}
    return env


@pytest.fixture(autouse=True)
def clean_bridge(monkeypatch):
    """No IOT_BACKUP_* from the outer environment; no cached connection or secret leaks between tests."""
    for name in ENV_VARS:
        monkeypatch.delenv(f"IOT_BACKUP_{name}", raising=False)
    bridge_settings.SECRETS.clear()
    yield
    publisher.close()
    bridge_settings.SECRETS.clear()


@pytest.fixture
def bridge(mosquitto_broker, monkeypatch):
    """Configure the bridge env for ``mosquitto_broker``; call ``bridge(user=..., **extra)`` to change it."""

    def configure(user: str = "lambda", listener: str = "tls", **extra: str) -> dict[str, str]:
        for name in ENV_VARS:
            monkeypatch.delenv(f"IOT_BACKUP_{name}", raising=False)
        env = broker_env(mosquitto_broker, user, listener, **extra)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env

    configure()
    return configure


class Spy:
    """A homeassistant subscriber on ``<topic_filter>`` that records every message."""

    def __init__(self, client) -> None:
        self.client = client

    def messages(self, count: int, timeout: float = 5.0) -> list:
        return self.client.wait_for_messages(count, timeout)

    def assert_nothing(self, wait: float = 0.3) -> None:
        """Nothing arrived: waits ``wait`` seconds for stragglers first."""
        time.sleep(wait)
        leftovers = []
        while True:
            try:
                leftovers.append(self.client.messages.get_nowait())
            except queue.Empty:
                break
        assert leftovers == [], [(m.topic, m.payload) for m in leftovers]


@pytest.fixture
def spy(mqtt_connect):
    """Subscribe as homeassistant to every topic of the default prefix."""
    outcome = mqtt_connect("homeassistant")
    assert outcome.connected, outcome
    assert outcome.client.subscribe(f"{protocol.DEFAULT_TOPIC_PREFIX}/#") == [1]
    return Spy(outcome.client)


@pytest.fixture
def acker(mqtt_connect):
    """A homeassistant consumer answering each click; set ``acker.status``/``acker.reason``
    (``acker.status = None`` stays silent). ``acker.clicks`` lists the clicks it saw."""
    outcome = mqtt_connect("homeassistant")
    assert outcome.connected, outcome
    client = outcome.client.paho
    state = SimpleNamespace(status="accepted", reason=None, clicks=[], extra_acks=[])

    def on_message(paho_client, _userdata, message) -> None:
        try:
            click = protocol.parse_click(message.payload)
        except protocol.ProtocolError:
            return
        state.clicks.append(click)
        if state.status is None:
            return
        serial = click.serial
        for other in state.extra_acks:  # acks for other ids first: the bridge must ignore them
            paho_client.publish(protocol.ack_topic("iot_backup", serial), other.to_payload(), qos=1)
        ack = protocol.build_ack(click.id, state.status, state.reason)
        paho_client.publish(protocol.ack_topic("iot_backup", serial), ack.to_payload(), qos=1)

    client.on_message = on_message
    assert outcome.client.subscribe(protocol.click_subscription("iot_backup")) == [1]
    return state


def _iot_button(**fields) -> dict:
    event = {"serialNumber": SERIAL, "batteryVoltage": "1615mV", "clickType": "SINGLE"}
    event.update(fields)
    return {key: value for key, value in event.items() if value is not _DROP}


def _one_click(
    device_id=SERIAL, click_type="SINGLE", reported_time="2018-05-04T23:26:33.747Z", **top
) -> dict:
    clicked = {"clickType": click_type, "reportedTime": reported_time}
    clicked = {key: value for key, value in clicked.items() if value is not _DROP}
    event = {
        "deviceInfo": {
            "deviceId": device_id,
            "type": "button",
            "remainingLife": 98.7,
            "attributes": {},
        },
        "deviceEvent": {"buttonClicked": clicked},
        "placementInfo": {
            "projectName": "backup",
            "placementName": "hall",
            "attributes": {},
            "devices": {},
        },
    }
    if device_id is _DROP:
        del event["deviceInfo"]["deviceId"]
    event.update(top)
    return event


_DROP = object()

# (name, event, field named in the InvalidEvent). Every one must raise before any connection.
MALFORMED_EVENTS = [
    ("not_a_dict_list", [1, 2], "event"),
    ("not_a_dict_none", None, "event"),
    ("not_a_dict_number", 42, "event"),
    ("non_json_string", "press the button", "event"),
    ("json_string_not_object", '"single"', "event"),
    ("oversize_string", '{"serial": "' + "A" * 70_000 + '"}', "event"),
    ("empty_object", {}, "event"),
    ("unrelated_keys", {"Records": [{"eventSource": "aws:sqs"}]}, "event"),
    ("button_missing_serial", _iot_button(serialNumber=_DROP), "serialNumber"),
    ("button_missing_click_type", _iot_button(clickType=_DROP), "clickType"),
    ("button_unknown_click_type", _iot_button(clickType="TRIPLE"), "clickType"),
    ("button_lowercase_click_type", _iot_button(clickType="single"), "clickType"),
    ("button_click_type_number", _iot_button(clickType=1), "clickType"),
    ("button_serial_slash", _iot_button(serialNumber="a/b"), "serialNumber"),
    ("button_serial_plus", _iot_button(serialNumber="+"), "serialNumber"),
    ("button_serial_hash", _iot_button(serialNumber="#"), "serialNumber"),
    ("button_serial_empty", _iot_button(serialNumber=""), "serialNumber"),
    ("button_serial_number", _iot_button(serialNumber=1234), "serialNumber"),
    ("button_serial_oversize", _iot_button(serialNumber="G" * 65), "serialNumber"),
    ("button_voltage_number", _iot_button(batteryVoltage=1615), "batteryVoltage"),
    ("button_voltage_no_unit", _iot_button(batteryVoltage="1615"), "batteryVoltage"),
    ("button_voltage_volts", _iot_button(batteryVoltage="1.6V"), "batteryVoltage"),
    ("button_voltage_space", _iot_button(batteryVoltage="1615 mV"), "batteryVoltage"),
    ("button_voltage_too_high", _iot_button(batteryVoltage="10001mV"), "batteryVoltage"),
    ("button_voltage_negative", _iot_button(batteryVoltage="-5mV"), "batteryVoltage"),
    ("button_timestamp_string", _iot_button(timestamp="1769860800000"), "timestamp"),
    ("button_timestamp_seconds", _iot_button(timestamp=1769860800), "timestamp"),
    ("button_timestamp_bool", _iot_button(timestamp=True), "timestamp"),
    ("button_event_id_slash", _iot_button(eventId="a/b"), "eventId"),
    ("button_event_id_number", _iot_button(eventId=5), "eventId"),
    ("1click_device_info_string", _one_click(deviceInfo="G030"), "deviceInfo"),
    ("1click_missing_device_id", _one_click(device_id=_DROP), "deviceInfo.deviceId"),
    ("1click_device_id_wildcard", _one_click(device_id="G030/#"), "deviceInfo.deviceId"),
    ("1click_missing_device_event", {"deviceInfo": {"deviceId": SERIAL}}, "deviceEvent"),
    ("1click_missing_button_clicked", _one_click(deviceEvent={}), "deviceEvent.buttonClicked"),
    (
        "1click_unknown_click_type",
        _one_click(click_type="HOLD"),
        "deviceEvent.buttonClicked.clickType",
    ),
    (
        "1click_missing_reported_time",
        _one_click(reported_time=_DROP),
        "deviceEvent.buttonClicked.reportedTime",
    ),
    (
        "1click_reported_time_epoch",
        _one_click(reported_time=1525476393747),
        "deviceEvent.buttonClicked.reportedTime",
    ),
    (
        "1click_reported_time_offset",
        _one_click(reported_time="2018-05-04T23:26:33+02:00"),
        "deviceEvent.buttonClicked.reportedTime",
    ),
    ("test_missing_click_type", {"serial": SERIAL}, "click_type"),
    ("test_missing_serial", {"click_type": "single"}, "serial"),
    ("test_uppercase_click_type", {"serial": SERIAL, "click_type": "SINGLE"}, "click_type"),
    ("test_click_type_list", {"serial": SERIAL, "click_type": ["single"]}, "click_type"),
    ("test_serial_plus", {"serial": "+", "click_type": "single"}, "serial"),
    ("test_serial_space", {"serial": "G030 PM", "click_type": "single"}, "serial"),
    (
        "test_battery_bool",
        {"serial": SERIAL, "click_type": "single", "battery_mv": True},
        "battery_mv",
    ),
    (
        "test_battery_string",
        {"serial": SERIAL, "click_type": "single", "battery_mv": "1615"},
        "battery_mv",
    ),
    (
        "test_battery_too_high",
        {"serial": SERIAL, "click_type": "single", "battery_mv": 10_001},
        "battery_mv",
    ),
    ("test_id_wildcard", {"serial": SERIAL, "click_type": "single", "id": "#"}, "id"),
    ("test_id_too_long", {"serial": SERIAL, "click_type": "single", "id": "x" * 65}, "id"),
    (
        "test_unknown_key",
        {"serial": SERIAL, "click_type": "single", "clicktype": "double"},
        "clicktype",
    ),
]


def vector_as_test_event(vector: dict):
    """A direct test event carrying an invalid vector's fault, or None if the fault is not in
    a field a test event has (v, ts, source, payload)."""
    payload = vector.get("payload")
    if vector["field"] not in ("serial", "click_type", "battery_mv", "id") or not isinstance(
        payload, dict
    ):
        return None
    event = {"serial": SERIAL, "click_type": "single"}
    if vector["field"] in payload:
        event[vector["field"]] = payload[vector["field"]]
    elif vector["field"] in ("serial", "click_type"):
        del event[vector["field"]]
    else:
        return None  # id and battery_mv are optional in a test event
    return event


def vector_as_raw_event(vector: dict):
    """An invalid vector sent as the Lambda event itself: the object, or the raw text."""
    if "payload" in vector:
        return vector["payload"]
    if "payload_text" in vector:
        return vector["payload_text"]
    import base64

    return base64.b64decode(vector["payload_base64"])
