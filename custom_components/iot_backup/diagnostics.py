"""Diagnostics for IoT Backup, with button serials masked."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .buttons import serial_of_device
from .const import CONF_ALLOWED_SERIALS
from .data import ButtonState, IotBackupConfigEntry

# Unique ids and identifiers embed serials, which identify a physical button.
TO_REDACT = {"unique_id", "identifiers", "serial_number"}


def mask_serial(serial: str) -> str:
    """Return ``serial`` with all but its first four characters masked."""
    return serial[:4] + "*" * max(len(serial) - 4, 0)


def _mask_in(text: str | None, serial: str) -> str | None:
    """Return ``text`` with any occurrence of ``serial`` masked."""
    if text is None or not serial:
        return text
    return text.replace(serial, mask_serial(serial))


def _button_diagnostics(button: ButtonState) -> dict[str, Any]:
    click = button.last_click
    return {
        "serial": mask_serial(button.serial),
        "battery_mv": button.battery_mv,
        "last_seen": button.last_seen.isoformat() if button.last_seen else None,
        "last_click": None
        if click is None
        else {
            "id": click.id,
            "click_type": click.click_type,
            "ts": click.ts,
            "source": click.source,
        },
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: IotBackupConfigEntry
) -> dict[str, Any]:
    """Return entry settings, counters and buttons, serials masked."""
    runtime = entry.runtime_data
    receiver = runtime.receiver
    options = dict(entry.options)
    options[CONF_ALLOWED_SERIALS] = [
        mask_serial(serial) for serial in options.get(CONF_ALLOWED_SERIALS, [])
    ]
    return {
        "entry": async_redact_data(
            {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": options,
            },
            TO_REDACT,
        ),
        "receiver": {
            "accepted": receiver.accepted,
            "duplicates": receiver.duplicates,
            "rejected": dict(receiver.reject_log.counts),
            "remembered_ids": len(receiver.dedupe),
        },
        "buttons": [_button_diagnostics(button) for button in runtime.hub.buttons.values()],
    }


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: IotBackupConfigEntry, device: dr.DeviceEntry
) -> dict[str, Any]:
    """Return one button's readings and device entry, serial masked."""
    serial = serial_of_device(device) or ""
    button = entry.runtime_data.hub.buttons.get(serial)
    return {
        "device": async_redact_data(
            {
                "name": _mask_in(device.name, serial),
                "name_by_user": _mask_in(device.name_by_user, serial),
                "model": device.model,
                "manufacturer": device.manufacturer,
                "identifiers": list(device.identifiers),
                "serial_number": device.serial_number,
            },
            TO_REDACT,
        ),
        "button": _button_diagnostics(button) if button else None,
    }
