"""Config, options and reconfigure flows."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.iot_backup.const import (
    CONF_ALLOW_UNKNOWN_SERIALS,
    CONF_ALLOWED_SERIALS,
    CONF_PREFIX,
    CONF_REPLAY_WINDOW,
    DOMAIN,
)
from custom_components.iot_backup.protocol import click_topic
from homeassistant.config_entries import SOURCE_MQTT, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from . import (
    OTHER_SERIAL,
    PREFIX,
    SERIAL,
    click_payload,
    create_config_entry,
    fire_click,
    published_acks,
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


def discovery_info(topic: str, payload: str | bytes) -> MqttServiceInfo:
    """Return what HA's MQTT integration hands a flow for a message on ``topic``."""
    return MqttServiceInfo(
        topic=topic,
        payload=payload,
        qos=0,
        retain=False,
        subscribed_topic="iot_backup/+/click",
        timestamp=0.0,
    )


async def test_discovery_from_first_press_creates_entry(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    """A press on the default prefix offers setup that allow-lists the pressed button."""
    # Through the broker: the manifest's mqtt key subscribes discovery to the click topic.
    async_fire_mqtt_message(hass, click_topic(PREFIX, SERIAL), click_payload())
    await hass.async_block_till_done()
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["step_id"] == "confirm"
    assert flow["context"]["source"] == SOURCE_MQTT
    assert flow["context"]["title_placeholders"] == {"serial": SERIAL}

    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["type"] is FlowResultType.FORM
    assert result["description_placeholders"] == {"serial": SERIAL, "prefix": PREFIX}

    # Submitting the form unchanged keeps its defaults.
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == PREFIX
    assert result["data"] == {CONF_PREFIX: PREFIX}
    assert result["options"] == {
        CONF_ALLOW_UNKNOWN_SERIALS: False,
        CONF_ALLOWED_SERIALS: [SERIAL],
        CONF_REPLAY_WINDOW: 300,
    }
    entry = result["result"]
    assert entry.unique_id == PREFIX
    assert entry.state is ConfigEntryState.LOADED

    # The discovered button's next press is accepted, and offers no second setup.
    await fire_click(hass, click_payload())
    assert [ack.status for ack in published_acks(mqtt_mock)] == ["accepted"]
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_discovery_confirm_errors_then_recovers(hass: HomeAssistant) -> None:
    """The confirm form validates behaviour like the user step."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery_info(click_topic(PREFIX, SERIAL), click_payload()),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**BEHAVIOUR, CONF_ALLOWED_SERIALS: []}
    )
    assert result["errors"] == {CONF_ALLOWED_SERIALS: "serials_required"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**BEHAVIOUR, CONF_ALLOW_UNKNOWN_SERIALS: True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {**BEHAVIOUR, CONF_ALLOW_UNKNOWN_SERIALS: True}


async def test_discovery_aborts_when_prefix_configured(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A press on a configured prefix aborts, without touching or reloading the entry."""
    entry = await setup_integration(hass)
    runtime_data = entry.runtime_data
    # A new button's first press: the receiver adds it; discovery offers nothing.
    await fire_click(hass, click_payload(OTHER_SERIAL), serial=OTHER_SERIAL)
    assert [ack.status for ack in published_acks(mqtt_mock)] == ["accepted"]
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    # Recording the topic as a discovery key would update, and so reload, the entry.
    assert entry.discovery_keys == {}
    assert entry.runtime_data is runtime_data

    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery_info(click_topic(PREFIX, SERIAL), click_payload()),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_discovery_of_second_button_aborts_in_progress(hass: HomeAssistant) -> None:
    """Only one discovered setup per prefix is offered at a time."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery_info(click_topic(PREFIX, SERIAL), click_payload()),
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery_info(click_topic(PREFIX, OTHER_SERIAL), click_payload(OTHER_SERIAL)),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_in_progress"


async def test_user_setup_of_prefix_ends_discovery(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Setting the default prefix up by hand removes its pending discovered setup."""
    await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery_info(click_topic(PREFIX, SERIAL), click_payload()),
    )
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PREFIX: PREFIX, **BEHAVIOUR}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (f"{PREFIX}/bad.serial/click", click_payload()),
        (f"other/{SERIAL}/click", click_payload()),
        (f"{PREFIX}/{SERIAL}/ack", click_payload()),
        (f"{PREFIX}/{SERIAL}/click", b"not json"),
        (f"{PREFIX}/{SERIAL}/click", bytearray(b"")),
        (f"{PREFIX}/{SERIAL}/click", click_payload(OTHER_SERIAL).decode()),
    ],
    ids=["bad_serial", "other_prefix", "not_click", "not_json", "empty", "serial_mismatch"],
)
async def test_discovery_aborts_on_non_click(
    hass: HomeAssistant, topic: str, payload: str | bytes
) -> None:
    """Only a valid press on <default prefix>/<serial>/click offers a setup."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery_info(topic, payload)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


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
