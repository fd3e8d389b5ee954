"""Click validation, acks, dedupe and rate-limited rejection logs (mocked MQTT)."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_mqtt_message,
)

from custom_components.iot_backup.const import EVENT_CLICK
from custom_components.iot_backup.protocol import (
    ProtocolError,
    ack_topic,
    parse_click,
    parse_timestamp,
)
from custom_components.iot_backup.receiver import DedupeCache, RejectLog
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
from tests.vectors import load_vectors, payload_bytes

from . import (
    OTHER_SERIAL,
    SERIAL,
    VECTOR_TIME,
    button_device,
    click_payload,
    fire_click,
    published_acks,
    setup_integration,
)

CLICK_VALID = load_vectors("click-valid")
CLICK_INVALID = load_vectors("click-invalid")


@pytest.mark.parametrize("vector", CLICK_VALID, ids=[v["name"] for v in CLICK_VALID])
async def test_valid_vector_accepted(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory, vector: dict
) -> None:
    """Every shared valid vector is accepted: one bus event, then an accepted ack."""
    freezer.move_to(parse_timestamp(vector["payload"]["ts"]))
    await setup_integration(hass)
    clicks = async_capture_events(hass, EVENT_CLICK)
    serial = vector["payload"]["serial"]

    await fire_click(hass, payload_bytes(vector), serial=serial)

    assert [event.data["id"] for event in clicks] == [vector["payload"]["id"]]
    acks = published_acks(mqtt_mock, ack_topic("iot_backup", serial))
    assert [(ack.id, ack.status, ack.reason) for ack in acks] == [
        (vector["payload"]["id"], "accepted", None)
    ]


async def test_every_invalid_vector_rejected_with_its_ack(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Every shared invalid vector: a rejected ack with its reason; no device, no event."""
    freezer.move_to(VECTOR_TIME)
    await setup_integration(hass)
    clicks = async_capture_events(hass, EVENT_CLICK)
    topic = ack_topic("iot_backup", SERIAL)

    for vector in CLICK_INVALID:
        raw = payload_bytes(vector)
        with pytest.raises(ProtocolError) as caught:
            parse_click(raw)
        mqtt_mock.async_publish.reset_mock()
        await fire_click(hass, raw)
        acks = published_acks(mqtt_mock, topic)
        assert [(ack.status, ack.reason, ack.id) for ack in acks] == [
            ("rejected", vector["reason"], caught.value.message_id)
        ], vector["name"]

    assert clicks == []
    assert button_device(hass, SERIAL) is None


async def test_serial_mismatch(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A payload serial other than the topic's is rejected and acked on the topic serial."""
    await setup_integration(hass)
    clicks = async_capture_events(hass, EVENT_CLICK)
    await fire_click(hass, click_payload(OTHER_SERIAL, message_id="m1"), serial=SERIAL)
    assert clicks == []
    acks = published_acks(mqtt_mock, ack_topic("iot_backup", SERIAL))
    assert [(a.id, a.status, a.reason) for a in acks] == [("m1", "rejected", "serial_mismatch")]


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (timedelta(seconds=-301), "rejected"),
        (timedelta(seconds=301), "rejected"),
        (timedelta(seconds=-299), "accepted"),
        (timedelta(seconds=299), "accepted"),
    ],
)
async def test_replay_window_both_directions(
    hass: HomeAssistant, mqtt_mock: Any, offset: timedelta, status: str
) -> None:
    """Clicks too old or too far in the future are stale; inside the window they pass."""
    await setup_integration(hass, replay_window=300)
    await fire_click(hass, click_payload(ts=dt_util.utcnow() + offset))
    acks = published_acks(mqtt_mock)
    assert [(a.status, a.reason) for a in acks] == [
        (status, "stale" if status == "rejected" else None)
    ]


async def test_unknown_serial_when_allow_listing(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Allow-listing: unknown serials are refused and create nothing; listed ones pass."""
    await setup_integration(hass, allow_unknown_serials=False, allowed_serials=[SERIAL])
    clicks = async_capture_events(hass, EVENT_CLICK)

    await fire_click(hass, click_payload(OTHER_SERIAL), serial=OTHER_SERIAL)
    assert clicks == []
    assert button_device(hass, OTHER_SERIAL) is None
    await fire_click(hass, click_payload(SERIAL))
    assert len(clicks) == 1
    assert [(a.status, a.reason) for a in published_acks(mqtt_mock)] == [
        ("rejected", "unknown_serial"),
        ("accepted", None),
    ]


async def test_unknown_serial_added_on_first_press(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Accept-any mode: the first valid press creates the device."""
    await setup_integration(hass, allow_unknown_serials=True)
    await fire_click(hass, click_payload(OTHER_SERIAL), serial=OTHER_SERIAL)
    device = button_device(hass, OTHER_SERIAL)
    assert device is not None
    assert device.name == f"IoT button {OTHER_SERIAL}"


async def test_duplicate_acts_once(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A repeated id fires one event and is acked duplicate."""
    await setup_integration(hass)
    clicks = async_capture_events(hass, EVENT_CLICK)
    payload = click_payload(message_id="press-1")
    await fire_click(hass, payload)
    await fire_click(hass, payload)
    await fire_click(hass, click_payload(message_id="press-1", click_type="long"))
    assert len(clicks) == 1
    assert [(a.id, a.status) for a in published_acks(mqtt_mock)] == [
        ("press-1", "accepted"),
        ("press-1", "duplicate"),
        ("press-1", "duplicate"),
    ]


async def test_dispatch_happens_before_ack(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """When the bus event fires, the accepted ack has not been sent yet."""
    await setup_integration(hass)
    acks_at_event: list[int] = []

    @callback
    def _on_click(event: Event) -> None:
        acks_at_event.append(len(published_acks(mqtt_mock)))

    hass.bus.async_listen(EVENT_CLICK, _on_click)
    await fire_click(hass, click_payload())
    assert acks_at_event == [0]
    assert [a.status for a in published_acks(mqtt_mock)] == ["accepted"]


async def test_invalid_topic_serial_only_warns(
    hass: HomeAssistant, mqtt_mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A topic whose serial is not valid cannot be acked: just a warning."""
    await setup_integration(hass)
    async_fire_mqtt_message(hass, "iot_backup/bad.serial/click", click_payload())
    await hass.async_block_till_done()
    assert published_acks(mqtt_mock) == []
    assert "invalid_topic" in caplog.text


async def test_rejection_warnings_are_rate_limited(
    hass: HomeAssistant,
    mqtt_mock: Any,
    caplog: pytest.LogCaptureFixture,
    freezer: FrozenDateTimeFactory,
) -> None:
    """One warning per reason per minute; the next one counts the suppressed."""
    await setup_integration(hass)
    caplog.set_level(logging.WARNING, "custom_components.iot_backup")
    for _ in range(5):
        await fire_click(hass, b"not json")
    await fire_click(hass, b"[]")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("custom_components")]
    assert len([line for line in lines if "not_json" in line]) == 1
    assert len([line for line in lines if ": invalid (" in line]) == 1
    assert len(published_acks(mqtt_mock)) == 6  # every rejection is still acked

    caplog.clear()
    freezer.tick(timedelta(seconds=61))
    await fire_click(hass, click_payload(ts=dt_util.utcnow())[:-1])
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("custom_components")]
    assert len(lines) == 1
    assert "not_json" in lines[0]
    assert "4 more 'not_json' rejections were not logged" in lines[0]


async def test_ack_failure_is_logged(
    hass: HomeAssistant, mqtt_mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """If MQTT refuses the ack, the click still took effect and the failure is logged."""
    await setup_integration(hass)
    clicks = async_capture_events(hass, EVENT_CLICK)
    with patch(
        "homeassistant.components.mqtt.async_publish",
        side_effect=HomeAssistantError("MQTT is not enabled"),
    ):
        await fire_click(hass, click_payload(message_id="m2"))
    assert len(clicks) == 1
    assert "Could not ack click m2 as accepted" in caplog.text


def test_dedupe_cache_expires_and_caps() -> None:
    """Ids expire after the TTL, and the oldest go first beyond the size cap."""
    start = dt_util.utcnow()
    cache = DedupeCache(timedelta(seconds=10), max_ids=3)
    for index in range(4):
        cache.add(f"id{index}", start)
    assert len(cache) == 3
    assert not cache.seen("id0", start)
    assert cache.seen("id3", start + timedelta(seconds=9))
    assert not cache.seen("id3", start + timedelta(seconds=10))
    assert len(cache) == 0


def test_reject_log_counts() -> None:
    """Counts are kept per reason for diagnostics, logged or not."""
    log = RejectLog(timedelta(minutes=1))
    now = dt_util.utcnow()
    log.reject("stale", "t", "d", now)
    log.reject("stale", "t", "d", now)
    assert log.counts == {"stale": 2}
