"""Base entity of a button: device info and the per-button update signal."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .buttons import device_name
from .const import DOMAIN, MANUFACTURER, MODEL, signal_button_update, signal_new_button
from .data import ButtonState, IotBackupConfigEntry
from .protocol import ClickMessage


@callback
def async_add_button_entities(
    hass: HomeAssistant,
    entry: IotBackupConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    entities_of: Callable[[ButtonState, ClickMessage | None], Iterable[Entity]],
) -> None:
    """Add a platform's entities for every known button now, and for each new one later.

    ``entities_of(button, first_click)`` builds them; ``first_click`` is the press that
    revealed a new button (None for buttons known at set-up).
    """
    hub = entry.runtime_data.hub
    async_add_entities(
        entity for button in hub.buttons.values() for entity in entities_of(button, None)
    )

    @callback
    def _async_add_button(serial: str, first_click: ClickMessage | None) -> None:
        async_add_entities(entities_of(hub.buttons[serial], first_click))

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_button(entry.entry_id), _async_add_button)
    )


class IotBackupButtonEntity(Entity):
    """An entity of one IoT button, updated by that button's accepted clicks."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self,
        entry: IotBackupConfigEntry,
        button: ButtonState,
        description: EntityDescription,
    ) -> None:
        """Bind the entity to ``button`` of ``entry``."""
        self.entity_description = description
        self._entry_id = entry.entry_id
        self._button = button
        self._attr_unique_id = f"{button.serial}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, button.serial)},
            manufacturer=MANUFACTURER,
            model=MODEL,
            name=device_name(button.serial),
            serial_number=button.serial,
        )

    async def async_added_to_hass(self) -> None:
        """Listen for this button's clicks until removed."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                signal_button_update(self._entry_id, self._button.serial),
                self._async_handle_click,
            )
        )

    @callback
    def _async_handle_click(self, click: ClickMessage) -> None:
        """Apply an accepted click of this button, then write the state."""
        self._apply_click(click)
        self.async_write_ha_state()

    def _apply_click(self, click: ClickMessage) -> None:
        """Update the entity's attributes from ``click``; each platform implements it."""
        raise NotImplementedError
