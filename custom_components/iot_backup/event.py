"""Event entity per IoT button: one event per accepted press."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import (
    EventDeviceClass,
    EventEntity,
    EventEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import ATTR_BATTERY_MV
from .data import ButtonState, IotBackupConfigEntry
from .entity import IotBackupButtonEntity, async_add_button_entities
from .protocol import ClickMessage

PARALLEL_UPDATES = 0

# Plain strings: HA 2026 standardised these button event types.
EVENT_PRESS = "press_end"
EVENT_MULTI_PRESS = "multi_press_end"
EVENT_LONG_PRESS = "long_press_end"
ATTR_MULTI_PRESS_COUNT = "multi_press_count"
ATTR_CLICK_ID = "click_id"

EVENT_TYPE_BY_CLICK = {
    "single": EVENT_PRESS,
    "double": EVENT_MULTI_PRESS,
    "long": EVENT_LONG_PRESS,
}

PRESS_DESCRIPTION = EventEntityDescription(
    key="press",
    translation_key="press",
    device_class=EventDeviceClass.BUTTON,
    event_types=[EVENT_PRESS, EVENT_MULTI_PRESS, EVENT_LONG_PRESS],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotBackupConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add an event entity for every known button, and for each new one."""
    async_add_button_entities(
        hass,
        entry,
        async_add_entities,
        lambda button, first_click: [IotBackupPressEvent(entry, button, first_click)],
    )


def event_of_click(click: ClickMessage) -> tuple[str, dict[str, Any]]:
    """Return the event type and attributes that represent ``click``."""
    event_type = EVENT_TYPE_BY_CLICK[click.click_type]
    attributes: dict[str, Any] = {
        ATTR_CLICK_ID: click.id,
        ATTR_BATTERY_MV: click.battery_mv,
    }
    if event_type == EVENT_MULTI_PRESS:
        attributes[ATTR_MULTI_PRESS_COUNT] = 2
    return event_type, attributes


class IotBackupPressEvent(IotBackupButtonEntity, EventEntity):
    """The presses of one IoT button."""

    def __init__(
        self,
        entry: IotBackupConfigEntry,
        button: ButtonState,
        first_click: ClickMessage | None = None,
    ) -> None:
        """Create the entity; ``first_click`` is the press that revealed the button."""
        super().__init__(entry, button, PRESS_DESCRIPTION)
        self._first_click = first_click

    async def async_added_to_hass(self) -> None:
        """Subscribe, and show the press that created this entity, if any."""
        await super().async_added_to_hass()
        if self._first_click is not None:
            self._trigger_event(*event_of_click(self._first_click))
            self._first_click = None

    def _apply_click(self, click: ClickMessage) -> None:
        self._trigger_event(*event_of_click(click))
