"""Config, options and reconfigure flows."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.iot_backup.const import (
    CONF_ALLOW_UNKNOWN_SERIALS,
    CONF_ALLOWED_SERIALS,
    CONF_PREFIX,
    CONF_REPLAY_WINDOW,
    DOMAIN,
)
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from . import (
    OTHER_SERIAL,
    SERIAL,
    click_payload,
    create_config_entry,
    fire_click,
    setup_integration,
)

BEHAVIOUR = {
    CONF_ALLOW_UNKNOWN_SERIALS: False,
    CONF_ALLOWED_SERIALS: [SERIAL],
    CONF_REPLAY_WINDOW: 120,
}


async def test_user_flow_aborts_without_mqtt(hass: HomeAssistant) -> None:
    """Without HA's MQTT integration the flow explains what to set up first."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"


async def test_user_flow_creates_entry(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Prefix goes to data (and unique_id); behaviour goes to options."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_PREFIX: " home/buttons ",
            CONF_ALLOW_UNKNOWN_SERIALS: False,
            CONF_ALLOWED_SERIALS: [SERIAL, " ", SERIAL, OTHER_SERIAL],
            CONF_REPLAY_WINDOW: 120.0,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "home/buttons"
    assert result["data"] == {CONF_PREFIX: "home/buttons"}
    assert result["options"] == {
        CONF_ALLOW_UNKNOWN_SERIALS: False,
        CONF_ALLOWED_SERIALS: [SERIAL, OTHER_SERIAL],
        CONF_REPLAY_WINDOW: 120,
    }
    entry = result["result"]
    assert entry.unique_id == "home/buttons"
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        ({CONF_PREFIX: "bad/#"}, {CONF_PREFIX: "invalid_prefix"}),
        ({CONF_PREFIX: "a//b"}, {CONF_PREFIX: "invalid_prefix"}),
        ({CONF_ALLOWED_SERIALS: ["has space"]}, {CONF_ALLOWED_SERIALS: "invalid_serial"}),
        ({CONF_ALLOWED_SERIALS: []}, {CONF_ALLOWED_SERIALS: "serials_required"}),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant, mqtt_mock: Any, user_input: dict[str, Any], errors: dict[str, str]
) -> None:
    """Invalid fields are reported on the field; fixing them creates the entry."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PREFIX: "iot_backup", **BEHAVIOUR, **user_input}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PREFIX: "iot_backup", **BEHAVIOUR}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_allow_unknown_needs_no_serials(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    """Accepting any button needs no allow-list."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_PREFIX: "iot_backup", CONF_ALLOW_UNKNOWN_SERIALS: True, CONF_REPLAY_WINDOW: 300},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_ALLOWED_SERIALS] == []


async def test_user_flow_one_entry_per_prefix(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A second entry on the same prefix aborts already_configured."""
    create_config_entry(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PREFIX: "iot_backup", **BEHAVIOUR}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_flow(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Options change behaviour and reload the entry; data stays as it is."""
    entry = await setup_integration(hass)
    await fire_click(hass, click_payload(OTHER_SERIAL), serial=OTHER_SERIAL)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    # Switching to allow-listing suggests the buttons already in use.
    schema_defaults = {
        str(key): key.default() for key in result["data_schema"].schema if key.default
    }
    assert schema_defaults[CONF_ALLOWED_SERIALS] == [OTHER_SERIAL]

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**BEHAVIOUR, CONF_ALLOWED_SERIALS: ["bad serial!"]}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ALLOWED_SERIALS: "invalid_serial"}

    result = await hass.config_entries.options.async_configure(result["flow_id"], BEHAVIOUR)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == BEHAVIOUR
    assert entry.data == {CONF_PREFIX: "iot_backup"}
    assert entry.state is ConfigEntryState.LOADED
    settings = entry.runtime_data.settings
    assert settings.allowed_serials == {SERIAL}
    assert not settings.allow_unknown_serials
    assert settings.replay_window.total_seconds() == 120


async def test_reconfigure_changes_prefix(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Reconfigure moves the entry to a new prefix and reloads it."""
    entry = await setup_integration(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PREFIX: "bad+"}
    )
    assert result["errors"] == {CONF_PREFIX: "invalid_prefix"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PREFIX: "home/buttons"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {CONF_PREFIX: "home/buttons"}
    assert entry.unique_id == "home/buttons"
    assert entry.title == "home/buttons"
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.settings.prefix == "home/buttons"


async def test_reconfigure_same_prefix(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Submitting the current prefix is fine."""
    entry = await setup_integration(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PREFIX: "iot_backup"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_to_taken_prefix_aborts(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Two entries cannot share a prefix through reconfigure either."""
    create_config_entry(hass, prefix="taken")
    entry = await setup_integration(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PREFIX: "taken"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data == {CONF_PREFIX: "iot_backup"}
