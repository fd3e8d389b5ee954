"""The buttons of one entry: devices, last readings, and what an accepted click does."""

from __future__ import annotations

from typing import Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util

from .const import (
    ATTR_BATTERY_MV,
    ATTR_CLICK_ID,
    ATTR_CLICK_TYPE,
    ATTR_SERIAL,
    DOMAIN,
    EVENT_CLICK,
    ISSUE_LOW_BATTERY,
    LOW_BATTERY_MV,
    MANUFACTURER,
    MODEL,
    RECOVERED_BATTERY_MV,
    low_battery_issue_id,
    signal_button_update,
    signal_new_button,
)
from .data import ButtonState, ClickSettings
from .protocol import ClickMessage


def device_name(serial: str) -> str:
    """Return the default device name for a button serial."""
    return f"IoT button {serial}"


class RegistryDevice(Protocol):
    """A device registry entry as serial_of_device reads it.

    HA 2026 returns ``DeviceEntry | ChildDeviceEntry`` from the registry; both have identifiers.
    """

    @property
    def identifiers(self) -> set[tuple[str, str]]:
        """Return the (domain, identifier) pairs of the device."""


def serial_of_device(device: RegistryDevice) -> str | None:
    """Return the button serial of a device registry entry, or None if not ours."""
    for domain, identifier in device.identifiers:
        if domain == DOMAIN:
            return identifier
    return None


class ButtonHub:
    """Knows an entry's buttons and turns accepted clicks into HA events and state."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, settings: ClickSettings) -> None:
        """Hold the entry; call async_load before use."""
        self._hass = hass
        self._entry = entry
        self._settings = settings
        self.buttons: dict[str, ButtonState] = {}

    @callback
    def async_load(self) -> None:
        """Know the buttons of the device registry and of the allow-list."""
        device_registry = dr.async_get(self._hass)
        for device in dr.async_entries_for_config_entry(device_registry, self._entry.entry_id):
            if (serial := serial_of_device(device)) is not None:
                self.buttons[serial] = ButtonState(serial, device_id=device.id)
        for serial in sorted(self._settings.allowed_serials):
            device_id = self._async_ensure_device(serial).id
            self.buttons.setdefault(serial, ButtonState(serial, device_id=device_id))

    def is_allowed(self, serial: str) -> bool:
        """Return True if clicks of ``serial`` may be accepted under the settings."""
        return self._settings.allow_unknown_serials or serial in self._settings.allowed_serials

    @callback
    def async_handle_click(self, click: ClickMessage) -> None:
        """Apply an accepted click: device, bus event, entity state, battery repair."""
        state = self.buttons.get(click.serial)
        is_new = state is None
        if state is None:
            state = self.buttons[click.serial] = ButtonState(click.serial)
        if state.device_id is None:
            # Once per button and run: the registry lookup is the costliest step of a click.
            state.device_id = self._async_ensure_device(click.serial).id
        state.last_click = click
        state.last_seen = dt_util.utcnow()
        if click.battery_mv is not None:
            state.battery_mv = click.battery_mv
        self._hass.bus.async_fire(
            EVENT_CLICK,
            {
                "device_id": state.device_id,
                ATTR_SERIAL: click.serial,
                ATTR_CLICK_TYPE: click.click_type,
                ATTR_CLICK_ID: click.id,
                ATTR_BATTERY_MV: click.battery_mv,
            },
        )
        if is_new:
            # Platforms add this button's entities; the event entity replays ``click``.
            async_dispatcher_send(
                self._hass, signal_new_button(self._entry.entry_id), click.serial, click
            )
        else:
            async_dispatcher_send(
                self._hass,
                signal_button_update(self._entry.entry_id, click.serial),
                click,
            )
        self._async_update_battery_issue(state)

    @callback
    def async_forget(self, serial: str) -> None:
        """Drop a button whose device was removed, with its repair issue."""
        self.buttons.pop(serial, None)
        ir.async_delete_issue(self._hass, DOMAIN, low_battery_issue_id(serial))

    @callback
    def _async_ensure_device(self, serial: str) -> dr.DeviceEntry:
        return dr.async_get(self._hass).async_get_or_create(
            config_entry_id=self._entry.entry_id,
            identifiers={(DOMAIN, serial)},
            manufacturer=MANUFACTURER,
            model=MODEL,
            name=device_name(serial),
            serial_number=serial,
        )

    @callback
    def _async_update_battery_issue(self, state: ButtonState) -> None:
        if state.battery_mv is None:
            return
        issue_id = low_battery_issue_id(state.serial)
        if state.battery_mv < LOW_BATTERY_MV:
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_LOW_BATTERY,
                translation_placeholders={
                    "name": device_name(state.serial),
                    "voltage": str(state.battery_mv),
                    "threshold": str(LOW_BATTERY_MV),
                },
            )
        elif state.battery_mv >= RECOVERED_BATTERY_MV:
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
