"""QoS1 clicks queued for Home Assistant survive broker restarts and bursts.

Real mosquitto with the project's broker/mosquitto.conf; no mocks.
"""

from __future__ import annotations

import time

from tests.broker_fixture import connect_as

SESSION_EXPIRY_SECONDS = 300
HOMEASSISTANT_CLIENT_ID = "homeassistant-persistent"
BURST_SIZE = 10_000


def open_persistent_homeassistant_session(broker) -> None:
    """Create a persistent QoS1 click subscription for Home Assistant, then go offline."""
    # mosquitto 2.0.11 writes a session to disk only if its last CONNECT had clean_start False.
    outcome = connect_as(
        broker,
        "homeassistant",
        client_id=HOMEASSISTANT_CLIENT_ID,
        clean_start=False,
        session_expiry=SESSION_EXPIRY_SECONDS,
    )
    assert outcome.connected, outcome
    assert outcome.client.subscribe("iot_backup/+/click", qos=1) == [1]
    outcome.client.disconnect()


def resume_homeassistant_session(broker):
    """Reconnect with the same client id and clean_start False; returns the outcome."""
    return connect_as(
        broker,
        "homeassistant",
        client_id=HOMEASSISTANT_CLIENT_ID,
        clean_start=False,
        session_expiry=SESSION_EXPIRY_SECONDS,
    )


def publish_click_burst(broker, click_count: int) -> None:
    """Publish ``click_count`` QoS1 clicks as lambda; each payload is its unique id."""
    # 100 in flight matches the broker's max_inflight_messages (its receive maximum).
    publisher = connect_as(broker, "lambda", max_inflight=100)
    assert publisher.connected, publisher
    clicks = [
        (f"iot_backup/BUTTON{click_id % 7}/click", str(click_id)) for click_id in range(click_count)
    ]
    reason_codes = publisher.client.publish_many(clicks, qos=1, timeout=30)
    publisher.client.disconnect()
    # 0x10 "no matching subscribers" would mean the offline session was not counted.
    assert set(reason_codes) == {0}, sorted(set(reason_codes))


def receive_click_ids(
    broker, expected_count: int, quiet_seconds: float, timeout: float
) -> set[int]:
    """Resume Home Assistant's session and collect click ids until quiet or done."""
    resumed = resume_homeassistant_session(broker)
    assert resumed.connected and resumed.session_present, resumed
    click_ids: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(click_ids) < expected_count and time.monotonic() < deadline:
        batch = resumed.client.wait_for_messages(expected_count, timeout=quiet_seconds)
        if not batch:
            break
        click_ids.update(int(message.payload) for message in batch)
    resumed.client.disconnect()
    return click_ids


def test_queued_click_survives_broker_restart(mosquitto_broker):
    open_persistent_homeassistant_session(mosquitto_broker)
    publish_click_burst(mosquitto_broker, 1)

    mosquitto_broker.restart()

    resumed = resume_homeassistant_session(mosquitto_broker)
    assert resumed.connected, (resumed, mosquitto_broker.log_text())
    assert resumed.session_present
    messages = resumed.client.wait_for_messages(1)
    assert [(m.topic, m.payload, m.qos) for m in messages] == [
        ("iot_backup/BUTTON0/click", b"0", 1)
    ]
    resumed.client.disconnect()


def test_burst_of_10000_clicks_reaches_offline_subscriber(mosquitto_broker):
    open_persistent_homeassistant_session(mosquitto_broker)
    publish_click_burst(mosquitto_broker, BURST_SIZE)

    click_ids = receive_click_ids(mosquitto_broker, BURST_SIZE, quiet_seconds=2.0, timeout=30)

    assert len(click_ids) == BURST_SIZE, f"lost {BURST_SIZE - len(click_ids)} clicks"
    assert "Outgoing messages are being dropped" not in mosquitto_broker.log_text()


def test_default_queue_limit_would_drop_clicks(mosquitto_with_config_changes):
    # Control for the burst test: mosquitto's default limit is what loses clicks.
    default_limit_broker = mosquitto_with_config_changes(
        {"max_queued_messages 100000": "max_queued_messages 1000"}
    )
    open_persistent_homeassistant_session(default_limit_broker)
    publish_click_burst(default_limit_broker, 2_000)

    click_ids = receive_click_ids(default_limit_broker, 2_000, quiet_seconds=1.0, timeout=10)

    assert len(click_ids) < 2_000


def test_session_opened_with_clean_start_is_not_saved_across_restart(mosquitto_broker):
    # Documents a mosquitto 2.0.11 quirk that subscribers (Home Assistant) must avoid:
    # a v5 session begun with clean_start True survives disconnects but not a restart.
    outcome = connect_as(
        mosquitto_broker,
        "homeassistant",
        client_id=HOMEASSISTANT_CLIENT_ID,
        clean_start=True,
        session_expiry=SESSION_EXPIRY_SECONDS,
    )
    assert outcome.client.subscribe("iot_backup/+/click", qos=1) == [1]
    outcome.client.disconnect()

    mosquitto_broker.restart()

    resumed = resume_homeassistant_session(mosquitto_broker)
    assert resumed.connected and not resumed.session_present
