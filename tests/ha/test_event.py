"""Event entity: one per button, press types and attributes."""

from __future__ import annotations

from typing import Any

import pytest

from homeassistant.components.event import ATTR_EVENT_TYPE, ATTR_EVENT_TYPES
from homeassistant.const import ATTR_DEVICE_CLASS, STATE_UNKNOWN
from homeassistant.core import HomeAssistant

from . import SERIAL, click_payload, fire_click, setup_integration

ENTITY_ID = "event.iot_button_g030pm0000000001_press"


async def test_event_entity_of_allow_listed_button(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Before any press the entity exists with the button device class and types."""
    await setup_integration(hass, allow_unknown_serials=False, allowed_serials=[SERIAL])
    state = hass.states.get(ENTITY_ID)
    assert state.state == STATE_UNKNOWN
    assert state.attributes[ATTR_DEVICE_CLASS] == "button"
    assert state.attributes[ATTR_EVENT_TYPES] == ["press_end", "multi_press_end", "long_press_end"]


@pytest.mark.parametrize(
    ("click_type", "event_type", "extra"),
    [
        ("single", "press_end", {}),
        ("double", "multi_press_end", {"multi_press_count": 2}),
        ("long", "long_press_end", {}),
    ],
)
async def test_press_types(
    hass: HomeAssistant,
    mqtt_mock: Any,
    click_type: str,
    event_type: str,
    extra: dict[str, Any],
) -> None:
    """Each click type maps to its event type, with the click id and battery attached."""
    await setup_integration(hass, allow_unknown_serials=False, allowed_serials=[SERIAL])
    await fire_click(hass, click_payload(click_type=click_type, message_id="c1", battery_mv=1580))
    state = hass.states.get(ENTITY_ID)
    assert state.state != STATE_UNKNOWN
    assert state.attributes[ATTR_EVENT_TYPE] == event_type
    assert state.attributes["click_id"] == "c1"
    assert state.attributes["battery_mv"] == 1580
    for key, value in extra.items():
        assert state.attributes[key] == value
    if not extra:
        assert "multi_press_count" not in state.attributes


async def test_first_press_of_new_button_shows_on_its_new_entity(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    """A button discovered by a press gets an entity that already shows that press."""
    await setup_integration(hass, allow_unknown_serials=True)
    assert hass.states.get(ENTITY_ID) is None
    await fire_click(hass, click_payload(click_type="double", message_id="first"))
    state = hass.states.get(ENTITY_ID)
    assert state.attributes[ATTR_EVENT_TYPE] == "multi_press_end"
    assert state.attributes["click_id"] == "first"

    await fire_click(hass, click_payload(click_type="long", message_id="second"))
    state = hass.states.get(ENTITY_ID)
    assert state.attributes[ATTR_EVENT_TYPE] == "long_press_end"
    assert state.attributes["click_id"] == "second"
