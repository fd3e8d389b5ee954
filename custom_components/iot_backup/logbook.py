"""Describe IoT button clicks in the logbook."""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.components.logbook.const import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .buttons import device_name
from .const import ATTR_CLICK_TYPE, ATTR_SERIAL, DOMAIN, EVENT_CLICK

CLICK_WORDS = {"single": "single press", "double": "double press", "long": "long press"}


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe the click bus event."""

    @callback
    def async_describe_click(event: Event) -> dict[str, str]:
        """Describe one click, e.g. 'IoT button G030 registered a double press'."""
        name = device_name(event.data[ATTR_SERIAL])
        if device := dr.async_get(hass).async_get(event.data[ATTR_DEVICE_ID]):
            name = device.name_by_user or device.name or name
        click_type = event.data[ATTR_CLICK_TYPE]
        return {
            LOGBOOK_ENTRY_NAME: name,
            LOGBOOK_ENTRY_MESSAGE: f"registered a {CLICK_WORDS.get(click_type, click_type)}",
        }

    async_describe_event(DOMAIN, EVENT_CLICK, async_describe_click)
