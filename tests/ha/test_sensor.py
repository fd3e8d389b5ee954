"""Battery voltage and last-seen sensors, and the low-battery repair."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import mock_restore_cache_with_extra_data

from custom_components.iot_backup.const import DOMAIN, LOW_BATTERY_MV, RECOVERED_BATTERY_MV
from homeassistant.components.sensor import ATTR_STATE_CLASS
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNKNOWN,
    EntityCategory,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er, issue_registry as ir

from . import SERIAL, click_payload, fire_click, setup_integration

BATTERY = "sensor.iot_button_g030pm0000000001_battery_voltage"
LAST_SEEN = "sensor.iot_button_g030pm0000000001_last_seen"
ISSUE_ID = f"low_battery_{SERIAL}"


async def test_sensors_follow_presses(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Battery in mV and last seen update on each press; a null battery keeps the last."""
    freezer.move_to("2026-01-31T12:00:00+00:00")
    await setup_integration(hass, allow_unknown_serials=False, allowed_serials=[SERIAL])
    assert hass.states.get(BATTERY).state == STATE_UNKNOWN

    await fire_click(hass, click_payload(battery_mv=1615))
    battery = hass.states.get(BATTERY)
    assert battery.state == "1615"
    assert battery.attributes[ATTR_UNIT_OF_MEASUREMENT] == "mV"
    assert battery.attributes[ATTR_DEVICE_CLASS] == "voltage"
    assert battery.attributes[ATTR_STATE_CLASS] == "measurement"
    last_seen = hass.states.get(LAST_SEEN)
    assert last_seen.attributes[ATTR_DEVICE_CLASS] == "timestamp"
    assert last_seen.state == "2026-01-31T12:00:00+00:00"
    registry = er.async_get(hass)
    for entity_id in (BATTERY, LAST_SEEN):
        assert registry.async_get(entity_id).entity_category is EntityCategory.DIAGNOSTIC

    freezer.tick(30)
    await fire_click(hass, click_payload(battery_mv=None))
    assert hass.states.get(BATTERY).state == "1615"
    assert hass.states.get(LAST_SEEN).state == "2026-01-31T12:00:30+00:00"


async def test_sensors_restore_after_restart(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Readings from before a restart are shown until the button reports again."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(BATTERY, "1490"),
                {"native_value": 1490, "native_unit_of_measurement": "mV"},
            ),
        ],
    )
    await setup_integration(hass, allow_unknown_serials=False, allowed_serials=[SERIAL])
    assert hass.states.get(BATTERY).state == "1490"
    assert hass.states.get(LAST_SEEN).state == STATE_UNKNOWN


async def test_low_battery_repair_raised_and_cleared(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Below the threshold a repair is raised; it clears only once the voltage recovers."""
    await setup_integration(hass)
    issues = ir.async_get(hass)

    await fire_click(hass, click_payload(battery_mv=LOW_BATTERY_MV - 1))
    issue = issues.async_get_issue(DOMAIN, ISSUE_ID)
    assert issue is not None
    assert issue.translation_key == "low_battery"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {
        "name": f"IoT button {SERIAL}",
        "voltage": str(LOW_BATTERY_MV - 1),
        "threshold": str(LOW_BATTERY_MV),
    }

    # Inside the hysteresis gap the issue stays.
    await fire_click(hass, click_payload(battery_mv=LOW_BATTERY_MV + 50))
    assert issues.async_get_issue(DOMAIN, ISSUE_ID) is not None
    await fire_click(hass, click_payload(battery_mv=None))
    assert issues.async_get_issue(DOMAIN, ISSUE_ID) is not None

    await fire_click(hass, click_payload(battery_mv=RECOVERED_BATTERY_MV))
    assert issues.async_get_issue(DOMAIN, ISSUE_ID) is None


@pytest.mark.parametrize("battery_mv", [1615, LOW_BATTERY_MV])
async def test_healthy_battery_raises_nothing(
    hass: HomeAssistant, mqtt_mock: Any, battery_mv: int
) -> None:
    """The classic 1615 mV example, and the threshold itself, are healthy."""
    await setup_integration(hass)
    await fire_click(hass, click_payload(battery_mv=battery_mv))
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_ID) is None


async def test_repair_removed_with_device(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Forgetting a button drops its repair issue."""
    entry = await setup_integration(hass)
    await fire_click(hass, click_payload(battery_mv=900))
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_ID) is not None
    entry.runtime_data.hub.async_forget(SERIAL)
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_ID) is None
