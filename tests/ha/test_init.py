"""Setup, unload, reload and device removal."""

from __future__ import annotations

from typing import Any

from pytest_homeassistant_custom_component.common import async_capture_events
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.iot_backup.const import CONF_ALLOWED_SERIALS, EVENT_CLICK
from homeassistant.components import websocket_api
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component

from . import (
    OTHER_SERIAL,
    SERIAL,
    button_device,
    click_payload,
    create_config_entry,
    fire_click,
    published_acks,
    setup_integration,
)


def _ours(listeners: dict[str, int]) -> dict[str, int]:
    """Drop zero counts and pending storage writes (a registry Store's final_write)."""
    return {
        event: count
        for event, count in listeners.items()
        if count and event != EVENT_HOMEASSISTANT_FINAL_WRITE
    }


async def test_setup_and_unload_leave_nothing_behind(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """After unload, a click does nothing and bus listeners are back to baseline."""
    entry = await setup_integration(hass)
    # The baseline is taken once the event and sensor components are loaded.
    assert await hass.config_entries.async_unload(entry.entry_id)
    baseline = hass.bus.async_listeners()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    subscribed = [call.args for call in mqtt_mock.async_subscribe.call_args_list]
    ours = [(a[0], a[2], a[3]) for a in subscribed if a[0].startswith("iot_backup")]
    # HA's MQTT discovery (the manifest's mqtt key) subscribes to the click topic once too.
    ours.remove(("iot_backup/+/click", 0, "utf-8"))
    assert ours == [("iot_backup/+/click", 1, None)] * 2

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert _ours(hass.bus.async_listeners()) == _ours(baseline)

    clicks = async_capture_events(hass, EVENT_CLICK)
    mqtt_mock.async_publish.reset_mock()
    await fire_click(hass, click_payload())
    assert clicks == []
    assert published_acks(mqtt_mock) == []
    assert button_device(hass, SERIAL) is None


async def test_reload_subscribes_once(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A reloaded entry handles each click exactly once."""
    entry = await setup_integration(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    baseline = hass.bus.async_listeners()
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    clicks = async_capture_events(hass, EVENT_CLICK)
    await fire_click(hass, click_payload())
    assert len(clicks) == 1
    assert [ack.status for ack in published_acks(mqtt_mock)] == ["accepted"]

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    listeners = hass.bus.async_listeners()
    listeners[EVENT_CLICK] -= 1  # the capture above
    assert _ours(listeners) == _ours(baseline)


async def test_setup_retries_without_mqtt(hass: HomeAssistant) -> None:
    """Without a usable MQTT client the entry is not ready and retries."""
    entry = create_config_entry(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_allow_list_devices_created_at_setup(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Allow-listed serials get a device and entities before their first press."""
    await setup_integration(hass, allow_unknown_serials=False, allowed_serials=[SERIAL])
    device = button_device(hass, SERIAL)
    assert device is not None
    assert device.manufacturer == "Amazon"
    assert device.model == "AWS IoT Button"
    assert device.serial_number == SERIAL
    assert device.name == f"IoT button {SERIAL}"
    entities = er.async_entries_for_device(er.async_get(hass), device.id)
    assert {entity.unique_id for entity in entities} == {
        f"{SERIAL}_press",
        f"{SERIAL}_battery_voltage",
        f"{SERIAL}_last_seen",
    }


async def test_known_devices_restored_after_restart(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A button discovered by a press is known again after a reload."""
    entry = await setup_integration(hass)
    await fire_click(hass, click_payload())
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert SERIAL in entry.runtime_data.hub.buttons
    assert hass.states.get("event.iot_button_g030pm0000000001_press") is not None


async def _remove_device(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, device_id: str, entry_id: str
) -> bool:
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    if "config/device_registry/remove" in hass.data[websocket_api.DOMAIN]:
        # HA 2026: removes the device from every entry; the old command is deprecated.
        message = {"type": "config/device_registry/remove", "device_id": device_id}
    else:
        message = {
            "type": "config/device_registry/remove_config_entry",
            "config_entry_id": entry_id,
            "device_id": device_id,
        }
    await client.send_json_auto_id(message)
    response = await client.receive_json()
    await hass.async_block_till_done()
    return response["success"]


async def test_remove_device_allow_unknown(
    hass: HomeAssistant, mqtt_mock: Any, hass_ws_client: WebSocketGenerator
) -> None:
    """Removing a discovered button forgets it; its next press re-creates it."""
    entry = await setup_integration(hass)
    await fire_click(hass, click_payload())
    device = button_device(hass, SERIAL)
    assert await _remove_device(hass, hass_ws_client, device.id, entry.entry_id)
    assert button_device(hass, SERIAL) is None
    assert SERIAL not in entry.runtime_data.hub.buttons

    await fire_click(hass, click_payload())
    assert button_device(hass, SERIAL) is not None


async def test_remove_device_drops_it_from_allow_list(
    hass: HomeAssistant, mqtt_mock: Any, hass_ws_client: WebSocketGenerator
) -> None:
    """Removing an allow-listed button takes it off the list: its presses are refused."""
    entry = await setup_integration(
        hass, allow_unknown_serials=False, allowed_serials=[SERIAL, OTHER_SERIAL]
    )
    device = button_device(hass, SERIAL)
    assert await _remove_device(hass, hass_ws_client, device.id, entry.entry_id)
    assert entry.options[CONF_ALLOWED_SERIALS] == [OTHER_SERIAL]
    assert entry.state is ConfigEntryState.LOADED

    mqtt_mock.async_publish.reset_mock()
    await fire_click(hass, click_payload())
    assert [(a.status, a.reason) for a in published_acks(mqtt_mock)] == [
        ("rejected", "unknown_serial")
    ]
    assert button_device(hass, SERIAL) is None


async def test_remove_foreign_device_is_allowed(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A device without an iot_backup identifier can be removed without side effects."""
    from custom_components.iot_backup import async_remove_config_entry_device

    entry = await setup_integration(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={("other", "x")}
    )
    assert await async_remove_config_entry_device(hass, entry, device)


async def test_remove_device_of_unloaded_entry(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Removal works while the entry is unloaded: the serial leaves the allow-list."""
    from custom_components.iot_backup import async_remove_config_entry_device

    entry = await setup_integration(hass, allow_unknown_serials=False, allowed_serials=[SERIAL])
    device = button_device(hass, SERIAL)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await async_remove_config_entry_device(hass, entry, device)
    assert entry.options[CONF_ALLOWED_SERIALS] == []
