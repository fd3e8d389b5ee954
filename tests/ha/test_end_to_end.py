"""End to end, no MQTT mock: Lambda handler -> TLS Mosquitto -> HA's real mqtt -> automation.

Uses the project's broker (``mosquitto_broker`` from tests/conftest.py) with its real
ACL: the Lambda bridge logs in as ``lambda``, Home Assistant as ``homeassistant``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import random
from typing import Any
import uuid

import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_mock_service,
)

from custom_components.iot_backup.const import DOMAIN, EVENT_CLICK
from custom_components.iot_backup.protocol import (
    ClickMessage,
    ProtocolError,
    ack_topic,
    click_topic,
    format_timestamp,
    parse_ack,
    parse_click,
    serial_from_click_topic,
)
from homeassistant.components import automation
from homeassistant.components.mqtt import config_flow as mqtt_config_flow  # noqa: F401
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from tests.lambda_support import lambda_context
from tests.vectors import load_vectors, payload_bytes

from . import OTHER_SERIAL, PREFIX, SERIAL, button_device, setup_integration
from .real_broker import wait_until_subscribed

pytestmark = pytest.mark.usefixtures("socket_enabled", "mock_hass_config")

BAD_PAYLOADS = 220


@pytest.fixture
def lambda_client(mqtt_connect: Any) -> Any:
    """A raw paho client logged in as the Lambda's user, subscribed to every ack."""
    outcome = mqtt_connect("lambda")
    assert outcome.connected, outcome.error
    assert outcome.client.subscribe(f"{PREFIX}/+/ack") == [1]
    return outcome.client


async def _press(hass: HomeAssistant, event: dict[str, Any]) -> dict[str, Any]:
    """Run the real Lambda handler (it blocks until HA's ack) in an executor."""
    from lambda_bridge.handler import lambda_handler

    return await hass.async_add_executor_job(
        lambda_handler, event, lambda_context(str(uuid.uuid4()))
    )


async def test_lambda_press_fires_automation_and_gets_acks(
    hass: HomeAssistant, real_mqtt: None, lambda_client: Any, lambda_env: None
) -> None:
    """accepted (automation ran), duplicate (nothing ran), rejected (unknown serial)."""
    entry = await setup_integration(hass, allow_unknown_serials=False, allowed_serials=[SERIAL])
    device = button_device(hass, SERIAL)
    calls: list[ServiceCall] = async_mock_service(hass, "test", "automation")
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "triggers": {
                    "trigger": "device",
                    "domain": DOMAIN,
                    "device_id": device.id,
                    "type": "single_press",
                },
                "actions": {
                    "action": "test.automation",
                    "data": {"click_id": "{{ trigger.event.data.id }}"},
                },
            }
        },
    )
    await wait_until_subscribed(hass, lambda_client)

    press = {
        "serialNumber": SERIAL,
        "clickType": "SINGLE",
        "batteryVoltage": "1615mV",
        "eventId": "e2e-press-1",
    }
    result = await _press(hass, press)
    await hass.async_block_till_done()
    assert (result["ack"], result["reason"]) == ("accepted", None)
    assert [call.data for call in calls] == [{"click_id": "e2e-press-1"}]
    assert hass.states.get("sensor.iot_button_g030pm0000000001_battery_voltage").state == "1615"

    result = await _press(hass, press)
    await hass.async_block_till_done()
    assert (result["ack"], result["reason"]) == ("duplicate", None)
    assert len(calls) == 1

    result = await _press(hass, {**press, "serialNumber": OTHER_SERIAL, "eventId": "e2e-2"})
    await hass.async_block_till_done()
    assert (result["ack"], result["reason"]) == ("rejected", "unknown_serial")
    assert len(calls) == 1
    assert button_device(hass, OTHER_SERIAL) is None
    assert entry.runtime_data.receiver.accepted == 1


def _bad_payloads(count: int, seed: int = 20260131) -> list[tuple[str, bytes]]:
    """Return ``count`` generated bad (topic, payload) pairs plus every shared invalid vector.

    Mutations of a valid click: wrong types, missing fields, bad values, wrong version,
    serial mismatch, stale or future ts, broken JSON and bytes, oversize, bad topics.
    """
    rng = random.Random(seed)
    now = dt_util.utcnow()
    junk_values: list[Any] = [
        None,
        True,
        0,
        -1,
        1.5,
        "",
        " ",
        "x" * 80,
        [],
        {},
        ["single"],
        {"a": 1},
        "😀",
        "a/b",
        "+",
    ]
    fields = ["v", "id", "serial", "click_type", "battery_mv", "ts", "source"]
    out: list[tuple[str, bytes]] = []
    while len(out) < count:
        serial = f"G030RND{rng.randrange(10**8):08d}"
        document: dict[str, Any] = ClickMessage(
            id=uuid.uuid4().hex,
            serial=serial,
            click_type=rng.choice(["single", "double", "long"]),
            battery_mv=rng.choice([None, 1615]),
            ts=format_timestamp(now),
            source="fuzz",
        )._asdict()
        topic = click_topic(PREFIX, serial)
        kind = rng.randrange(9)
        if kind == 0:
            document[rng.choice(fields)] = rng.choice(junk_values)
        elif kind == 1:
            del document[rng.choice(fields)]
        elif kind == 2:
            document["v"] = rng.choice([0, 2, 99, "1", 1.0])
        elif kind == 3:
            document["serial"] = f"G030OTHER{rng.randrange(1000)}"  # serial_mismatch
        elif kind == 4:
            skew = timedelta(seconds=rng.choice([-1, 1]) * rng.randrange(301, 10**7))
            document["ts"] = format_timestamp(now + skew)  # stale, either direction
        elif kind == 5:
            document["click_type"] = rng.choice(["SINGLE", "triple", "press", "Single"])
        raw = json.dumps(document).encode()
        if kind == 6:
            raw = raw[: rng.randrange(len(raw))]  # truncated JSON
        elif kind == 7:
            raw = rng.choice(
                [
                    bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))),
                    b"\xff\xfe" + raw,
                    raw + b"x" * 1024,
                    b"[" * 600 + b"]" * 600,
                    b"null",
                    b"1e999",
                ]
            )
        elif kind == 8:
            topic = f"{PREFIX}/{rng.choice(['bad.serial', 'sp ace', 'x' * 65])}/click"
        if _is_bad(topic, raw, now):
            out.append((topic, raw))
    vectors = [
        (click_topic(PREFIX, SERIAL), payload_bytes(vector))
        for vector in load_vectors("click-invalid")
    ]
    return out + vectors


def _is_bad(topic: str, raw: bytes, now: Any) -> bool:
    """True if HA must refuse this message (so the generator never emits a valid one)."""
    topic_serial = serial_from_click_topic(PREFIX, topic)
    if topic_serial is None:
        return True
    try:
        click = parse_click(raw)
    except ProtocolError:
        return True
    return click.serial != topic_serial or abs(now - click.timestamp) > timedelta(seconds=300)


async def test_generated_bad_payloads_through_real_broker(
    hass: HomeAssistant, real_mqtt: None, lambda_client: Any, lambda_env: None
) -> None:
    """>= 200 bad payloads: all refused, nothing created or fired, HA still works after."""
    entry = await setup_integration(hass, allow_unknown_serials=True)
    clicks = async_capture_events(hass, EVENT_CLICK)
    await wait_until_subscribed(hass, lambda_client)
    await hass.async_add_executor_job(lambda_client.wait_for_messages, 100, 0.5)  # drain probes

    bad = _bad_payloads(BAD_PAYLOADS)
    assert len(bad) >= 200
    ackable = [topic for topic, _raw in bad if serial_from_click_topic(PREFIX, topic)]
    pubacks = await hass.async_add_executor_job(lambda_client.publish_many, bad)
    assert set(pubacks) <= {0, 16}  # success, or "no matching subscribers" for bad topics

    acks: list[Any] = []
    loop_deadline = asyncio.get_running_loop().time() + 60
    while len(acks) < len(ackable) and asyncio.get_running_loop().time() < loop_deadline:
        acks += await hass.async_add_executor_job(
            lambda_client.wait_for_messages, len(ackable) - len(acks), 0.5
        )
    assert len(acks) == len(ackable)
    statuses = {parse_ack(message.payload).status for message in acks}
    assert statuses == {"rejected"}
    assert sorted(message.topic for message in acks) == sorted(
        ack_topic(PREFIX, serial_from_click_topic(PREFIX, topic)) for topic in ackable
    )
    assert clicks == []
    assert dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id) == []

    # Still responsive: a real press afterwards works end to end.
    result = await _press(hass, {"serialNumber": SERIAL, "clickType": "LONG", "eventId": "after"})
    await hass.async_block_till_done()
    assert result["ack"] == "accepted"
    assert [event.data["click_type"] for event in clicks] == ["long"]
    assert button_device(hass, SERIAL) is not None
