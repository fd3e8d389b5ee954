"""Logbook wording of the click event."""

from __future__ import annotations

from typing import Any

from custom_components.iot_backup.const import DOMAIN, EVENT_CLICK
from custom_components.iot_backup.logbook import async_describe_events
from homeassistant.components.logbook import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr

from . import SERIAL, button_device, click_payload, fire_click, setup_integration


async def test_click_described(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A click reads '<device name> registered a double press'."""
    await setup_integration(hass)
    await fire_click(hass, click_payload())
    device = button_device(hass, SERIAL)
    dr.async_get(hass).async_update_device(device.id, name_by_user="Hall button")

    # The logbook component needs the frontend; call the describer hook directly.
    describers: dict[str, Any] = {}
    async_describe_events(
        hass, lambda domain, event_type, fn: describers.setdefault(event_type, (domain, fn))
    )
    domain, describe = describers[EVENT_CLICK]
    assert domain == DOMAIN
    event = Event(
        EVENT_CLICK,
        {"device_id": device.id, "serial": SERIAL, "click_type": "double", "id": "x"},
    )
    assert describe(event) == {
        LOGBOOK_ENTRY_NAME: "Hall button",
        LOGBOOK_ENTRY_MESSAGE: "registered a double press",
    }
    event = Event(
        EVENT_CLICK,
        {"device_id": "gone", "serial": SERIAL, "click_type": "long", "id": "y"},
    )
    assert describe(event)[LOGBOOK_ENTRY_NAME] == f"IoT button {SERIAL}"
