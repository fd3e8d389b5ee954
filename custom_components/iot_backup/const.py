"""Constants for the IoT Backup integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from homeassistant.const import Platform

from .protocol import DEFAULT_TOPIC_PREFIX

DOMAIN: Final = "iot_backup"
LOGGER = logging.getLogger(__package__)

PLATFORMS: Final = [Platform.EVENT, Platform.SENSOR]

# Config entry data: what the entry *is* (its topic namespace, also its unique_id).
CONF_PREFIX: Final = "prefix"
# Config entry options: how the entry *behaves*; changeable without re-adding.
CONF_ALLOW_UNKNOWN_SERIALS: Final = "allow_unknown_serials"
CONF_ALLOWED_SERIALS: Final = "allowed_serials"
CONF_REPLAY_WINDOW: Final = "replay_window"

DEFAULT_PREFIX: Final = DEFAULT_TOPIC_PREFIX
DEFAULT_ALLOW_UNKNOWN_SERIALS: Final = False
DEFAULT_REPLAY_WINDOW: Final = 300
MIN_REPLAY_WINDOW: Final = 10
MAX_REPLAY_WINDOW: Final = 3600

# Dedupe memory: ids live for twice the replay window, and at most this many are kept.
DEDUPE_MAX_IDS: Final = 10_000
# Accepted ids are saved this many seconds after a click (batched), and on unload.
ACCEPTED_IDS_SAVE_DELAY: Final = 1
ACCEPTED_IDS_STORAGE_VERSION: Final = 1
# At most one warning per reject reason per this interval; the rest are counted.
REJECT_LOG_INTERVAL: Final = timedelta(minutes=1)

# The AWS IoT button runs on a single AAA lithium cell: ~1.6-1.8 V fresh (the
# classic example event reports 1615 mV), the Wi-Fi radio browns out near 1.1 V.
# Below LOW_BATTERY_MV a repair is raised; it is cleared at RECOVERED_BATTERY_MV
# or more (the gap keeps a cell hovering at the threshold from flapping).
LOW_BATTERY_MV: Final = 1200
RECOVERED_BATTERY_MV: Final = 1300

MANUFACTURER: Final = "Amazon"
MODEL: Final = "AWS IoT Button"

EVENT_CLICK: Final = f"{DOMAIN}_click"
ATTR_SERIAL: Final = "serial"
ATTR_CLICK_TYPE: Final = "click_type"
ATTR_CLICK_ID: Final = "id"
ATTR_BATTERY_MV: Final = "battery_mv"

# Protocol click_type -> device trigger type (the automation editor's vocabulary).
TRIGGER_TYPE_BY_CLICK: Final = {
    "single": "single_press",
    "double": "double_press",
    "long": "long_press",
}
CLICK_BY_TRIGGER_TYPE: Final = {value: key for key, value in TRIGGER_TYPE_BY_CLICK.items()}

ISSUE_LOW_BATTERY: Final = "low_battery"


def signal_new_button(entry_id: str) -> str:
    """Return the dispatcher signal sent when a button (serial) becomes known."""
    return f"{DOMAIN}_{entry_id}_new_button"


def signal_button_update(entry_id: str, serial: str) -> str:
    """Return the dispatcher signal sent when a button's state changes."""
    return f"{DOMAIN}_{entry_id}_{serial}_update"


def low_battery_issue_id(serial: str) -> str:
    """Return the repair issue id for a button's low battery."""
    return f"{ISSUE_LOW_BATTERY}_{serial}"
