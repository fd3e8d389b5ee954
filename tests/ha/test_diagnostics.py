"""Entry and device diagnostics mask serials."""

from __future__ import annotations

import json
from typing import Any

from custom_components.iot_backup.diagnostics import (
    async_get_config_entry_diagnostics,
    async_get_device_diagnostics,
    mask_serial,
)
from homeassistant.core import HomeAssistant

from . import OTHER_SERIAL, SERIAL, button_device, click_payload, fire_click, setup_integration


async def test_entry_diagnostics(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Counters and buttons are reported; no serial appears in full."""
    entry = await setup_integration(
        hass, allow_unknown_serials=False, allowed_serials=[SERIAL, OTHER_SERIAL]
    )
    await fire_click(hass, click_payload(message_id="d1"))
    await fire_click(hass, click_payload(message_id="d1"))
    await fire_click(hass, b"nope")

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert SERIAL not in json.dumps(diagnostics)
    assert OTHER_SERIAL not in json.dumps(diagnostics)
    assert diagnostics["entry"]["unique_id"] == "**REDACTED**"
    assert diagnostics["entry"]["options"]["allowed_serials"] == [
        "G030************",
        "G030************",
    ]
    assert diagnostics["receiver"] == {
        "accepted": 1,
        "duplicates": 1,
        "rejected": {"not_json": 1},
        "remembered_ids": 1,
    }
    pressed = [b for b in diagnostics["buttons"] if b["last_click"]]
    assert pressed[0]["last_click"]["id"] == "d1"
    assert pressed[0]["battery_mv"] == 1615


async def test_device_diagnostics(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A button's device diagnostics mask its serial, also inside the name."""
    entry = await setup_integration(hass)
    await fire_click(hass, click_payload())
    device = button_device(hass, SERIAL)
    diagnostics = await async_get_device_diagnostics(hass, entry, device)
    assert SERIAL not in json.dumps(diagnostics)
    assert diagnostics["device"]["name"] == f"IoT button {mask_serial(SERIAL)}"
    assert diagnostics["device"]["serial_number"] == "**REDACTED**"
    assert diagnostics["button"]["serial"] == mask_serial(SERIAL)


def test_mask_serial() -> None:
    """Only the first four characters survive."""
    assert mask_serial("G030ABC") == "G030***"
    assert mask_serial("AB") == "AB"
