"""Device triggers: listed per button, and each fires a real automation."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import (
    async_get_device_automations,
    async_mock_service,
)
import voluptuous as vol

from custom_components.iot_backup.const import DOMAIN
from custom_components.iot_backup.device_trigger import async_validate_trigger_config
from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component

from . import SERIAL, button_device, click_payload, fire_click, setup_integration


async def test_get_triggers(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """An allow-listed button offers single, double and long press triggers."""
    await setup_integration(hass, allow_unknown_serials=False, allowed_serials=[SERIAL])
    device = button_device(hass, SERIAL)
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device.id)
    assert sorted(
        (t["type"], t["domain"], t["device_id"], t["platform"])
        for t in triggers
        if t["domain"] == DOMAIN
    ) == [
        ("double_press", DOMAIN, device.id, "device"),
        ("long_press", DOMAIN, device.id, "device"),
        ("single_press", DOMAIN, device.id, "device"),
    ]


async def test_get_triggers_for_foreign_device(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A device that is not an IoT button has no iot_backup triggers."""
    from custom_components.iot_backup.device_trigger import async_get_triggers

    entry = await setup_integration(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={("other", "x")}
    )
    assert await async_get_triggers(hass, device.id) == []
    assert await async_get_triggers(hass, "no-such-device") == []


async def test_invalid_trigger_type_refused(hass: HomeAssistant) -> None:
    """Only the three press types validate."""
    with pytest.raises(vol.Invalid):
        await async_validate_trigger_config(
            hass,
            {"platform": "device", "domain": DOMAIN, "device_id": "x", "type": "triple_press"},
        )


@pytest.mark.parametrize(
    ("click_type", "trigger_type"),
    [("single", "single_press"), ("double", "double_press"), ("long", "long_press")],
)
async def test_each_press_fires_its_automation(
    hass: HomeAssistant, mqtt_mock: Any, click_type: str, trigger_type: str
) -> None:
    """A press runs the automation of its type, and only that one."""
    await setup_integration(hass, allow_unknown_serials=False, allowed_serials=[SERIAL])
    device = button_device(hass, SERIAL)
    calls: list[ServiceCall] = async_mock_service(hass, "test", "automation")
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                {
                    "alias": kind,
                    "triggers": {
                        "trigger": "device",
                        "domain": DOMAIN,
                        "device_id": device.id,
                        "type": kind,
                    },
                    "actions": {
                        "action": "test.automation",
                        "data": {
                            "kind": kind,
                            "click_id": "{{ trigger.event.data.id }}",
                            "serial": "{{ trigger.event.data.serial }}",
                        },
                    },
                }
                for kind in ("single_press", "double_press", "long_press")
            ]
        },
    )
    await fire_click(hass, click_payload(click_type=click_type, message_id="press-7"))
    assert [call.data for call in calls] == [
        {"kind": trigger_type, "click_id": "press-7", "serial": SERIAL}
    ]
