"""Tests of the Home Assistant integration: shared builders and the deprecation guard."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
import logging
from typing import Any
import uuid
import warnings

from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)

from custom_components.iot_backup.const import (
    CONF_ALLOW_UNKNOWN_SERIALS,
    CONF_ALLOWED_SERIALS,
    CONF_PREFIX,
    CONF_REPLAY_WINDOW,
    DOMAIN,
)
from custom_components.iot_backup.protocol import (
    AckMessage,
    ClickMessage,
    click_topic,
    format_timestamp,
    parse_ack,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util

PREFIX = "iot_backup"
SERIAL = "G030PM0000000001"
OTHER_SERIAL = "G030PM0000000002"
# The shared vectors are stamped with this instant; tests freeze time to it.
VECTOR_TIME = "2026-01-31T12:00:00+00:00"

DEPRECATION_MARKERS = ("deprecated", "detected that custom integration", "detected code that")
_SOURCES = ("homeassistant", "custom_components")


def button_device(hass: HomeAssistant, serial: str) -> dr.DeviceEntry | None:
    """Return the device of button ``serial``, or None.

    Found through each entry's devices: HA 2026 deprecates ``async_get_device`` and
    mapping access to ``devices``, and HA 2025.4 has no replacement for either.
    """
    registry = dr.async_get(hass)
    for entry in hass.config_entries.async_entries(DOMAIN):
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
            if (DOMAIN, serial) in device.identifiers:
                return device
    return None


def create_config_entry(
    hass: HomeAssistant,
    *,
    prefix: str = PREFIX,
    allow_unknown_serials: bool = True,
    allowed_serials: Iterable[str] = (),
    replay_window: int = 300,
) -> MockConfigEntry:
    """Return an iot_backup entry added to ``hass`` (not set up)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=prefix,
        unique_id=prefix,
        data={CONF_PREFIX: prefix},
        options={
            CONF_ALLOW_UNKNOWN_SERIALS: allow_unknown_serials,
            CONF_ALLOWED_SERIALS: list(allowed_serials),
            CONF_REPLAY_WINDOW: replay_window,
        },
    )
    entry.add_to_hass(hass)
    return entry


async def setup_integration(hass: HomeAssistant, **entry_kwargs: Any) -> MockConfigEntry:
    """Create an entry with ``entry_kwargs`` and set it up; return it loaded."""
    entry = create_config_entry(hass, **entry_kwargs)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def click_payload(
    serial: str = SERIAL,
    click_type: str = "single",
    *,
    message_id: str | None = None,
    battery_mv: int | None = 1615,
    ts: datetime | None = None,
) -> bytes:
    """Return a valid click payload stamped now (or at ``ts``) with a fresh id."""
    return ClickMessage(
        id=message_id or uuid.uuid4().hex,
        serial=serial,
        click_type=click_type,
        battery_mv=battery_mv,
        ts=format_timestamp(ts or dt_util.utcnow()),
        source="test",
    ).to_payload()


async def fire_click(
    hass: HomeAssistant, payload: bytes, serial: str = SERIAL, prefix: str = PREFIX
) -> None:
    """Deliver ``payload`` on the click topic of ``serial`` through mocked MQTT."""
    async_fire_mqtt_message(hass, click_topic(prefix, serial), payload, qos=1)
    await hass.async_block_till_done()


def published_acks(mqtt_mock: Any, topic: str | None = None) -> list[AckMessage]:
    """Return the acks the integration published (to ``topic`` if given), oldest first."""
    acks = []
    for call in mqtt_mock.async_publish.call_args_list:
        ack_topic, payload, qos, _retain = call.args
        if ack_topic.endswith("/ack") and (topic is None or ack_topic == topic):
            assert qos == 1
            acks.append(parse_ack(payload))
    return acks


def deprecation_findings(
    records: Iterable[logging.LogRecord],
    caught: Iterable[warnings.WarningMessage],
) -> list[str]:
    """Return HA deprecation notices among log records and Python warnings.

    A notice counts when it contains a marker and comes from (or names)
    homeassistant or custom_components code.
    """
    findings = []
    for record in records:
        text = record.getMessage()
        lowered = text.lower()
        from_ha = record.name.startswith(_SOURCES) or any(s in text for s in _SOURCES)
        if from_ha and any(marker in lowered for marker in DEPRECATION_MARKERS):
            findings.append(f"log {record.name}: {text}")
    for item in caught:
        text = str(item.message)
        lowered = text.lower()
        from_ha = any(f"/{s}/" in item.filename for s in _SOURCES) or any(
            s in text for s in _SOURCES
        )
        is_deprecation = issubclass(
            item.category, (DeprecationWarning, PendingDeprecationWarning)
        ) or any(marker in lowered for marker in DEPRECATION_MARKERS)
        if from_ha and is_deprecation:
            findings.append(f"warning {item.filename}:{item.lineno}: {text}")
    return findings
