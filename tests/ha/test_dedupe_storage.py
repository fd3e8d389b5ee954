"""Accepted click ids outlive a reload and a restart, so a late retry never acts twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.iot_backup.const import EVENT_CLICK
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from . import click_payload, create_config_entry, fire_click, published_acks, setup_integration

STORE_VERSION = 1


def store_key(entry_id: str) -> str:
    return f"iot_backup.{entry_id}.accepted_ids"


async def test_retry_after_reload_is_a_duplicate(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """The same id before and after a reload: one action, then a duplicate ack."""
    entry = await setup_integration(hass)
    clicks = async_capture_events(hass, EVENT_CLICK)
    payload = click_payload(message_id="press-before-reload")
    await fire_click(hass, payload)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    await fire_click(hass, payload)
    assert len(clicks) == 1
    assert [ack.status for ack in published_acks(mqtt_mock)] == ["accepted", "duplicate"]


async def test_retry_after_restart_is_a_duplicate(
    hass: HomeAssistant, mqtt_mock: Any, hass_storage: dict[str, Any]
) -> None:
    """Ids saved by an earlier run are loaded at set-up; expired ones are not."""
    entry = create_config_entry(hass)
    now = dt_util.utcnow()
    hass_storage[store_key(entry.entry_id)] = {
        "version": STORE_VERSION,
        "minor_version": 1,
        "key": store_key(entry.entry_id),
        "data": {
            "ids": [
                ["expired-id", (now - timedelta(seconds=700)).isoformat()],  # > 2 windows
                ["recent-id", (now - timedelta(seconds=30)).isoformat()],
            ]
        },
    }
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    clicks = async_capture_events(hass, EVENT_CLICK)

    await fire_click(hass, click_payload(message_id="recent-id"))
    await fire_click(hass, click_payload(message_id="expired-id"))
    assert [click.data["id"] for click in clicks] == ["expired-id"]
    assert [(ack.id, ack.status) for ack in published_acks(mqtt_mock)] == [
        ("recent-id", "duplicate"),
        ("expired-id", "accepted"),
    ]


async def test_accepted_ids_are_saved_on_unload(
    hass: HomeAssistant, mqtt_mock: Any, hass_storage: dict[str, Any]
) -> None:
    """Unloading writes the ids at once; removing the entry deletes them."""
    entry = await setup_integration(hass)
    await fire_click(hass, click_payload(message_id="saved-id"))
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    saved = hass_storage[store_key(entry.entry_id)]["data"]["ids"]
    assert [message_id for message_id, _added in saved] == ["saved-id"]

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert store_key(entry.entry_id) not in hass_storage


async def test_retry_of_a_future_stamped_click_is_a_duplicate(
    hass: HomeAssistant, mqtt_mock: Any, freezer: Any
) -> None:
    """A click stamped ahead of HA's clock stays replayable until ts + window: its id must too."""
    await setup_integration(hass, replay_window=300)
    clicks = async_capture_events(hass, EVENT_CLICK)
    payload = click_payload(message_id="ahead", ts=dt_util.utcnow() + timedelta(seconds=290))
    await fire_click(hass, payload)
    freezer.tick(timedelta(seconds=301))
    await fire_click(hass, payload)
    assert [click.data["id"] for click in clicks] == ["ahead"]
    assert [ack.status for ack in published_acks(mqtt_mock)] == ["accepted", "duplicate"]


async def test_late_retry_of_an_accepted_click_is_a_duplicate_not_stale(
    hass: HomeAssistant, mqtt_mock: Any, freezer: Any
) -> None:
    """A retry that is now outside the window but was accepted says duplicate: the press ran."""
    await setup_integration(hass, replay_window=300)
    clicks = async_capture_events(hass, EVENT_CLICK)
    payload = click_payload(message_id="ran-once")
    await fire_click(hass, payload)
    freezer.tick(timedelta(seconds=350))
    await fire_click(hass, payload)
    assert len(clicks) == 1
    assert [(ack.status, ack.reason) for ack in published_acks(mqtt_mock)] == [
        ("accepted", None),
        ("duplicate", None),
    ]
