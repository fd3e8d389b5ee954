"""Typed runtime data for an IoT Backup config entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

from .const import (
    CONF_ALLOW_UNKNOWN_SERIALS,
    CONF_ALLOWED_SERIALS,
    CONF_PREFIX,
    CONF_REPLAY_WINDOW,
    DEFAULT_ALLOW_UNKNOWN_SERIALS,
    DEFAULT_REPLAY_WINDOW,
)
from .protocol import ClickMessage

if TYPE_CHECKING:
    from .buttons import ButtonHub
    from .receiver import ClickReceiver

type IotBackupConfigEntry = ConfigEntry[IotBackupData]


@dataclass(frozen=True, slots=True)
class ClickSettings:
    """How an entry listens: its topic prefix (data) and behaviour (options)."""

    prefix: str
    allow_unknown_serials: bool
    allowed_serials: frozenset[str]
    replay_window: timedelta

    @classmethod
    def from_entry(cls, entry: ConfigEntry) -> ClickSettings:
        """Read the settings of a config entry, filling defaults for missing options."""
        options = entry.options
        return cls(
            prefix=entry.data[CONF_PREFIX],
            allow_unknown_serials=options.get(
                CONF_ALLOW_UNKNOWN_SERIALS, DEFAULT_ALLOW_UNKNOWN_SERIALS
            ),
            allowed_serials=frozenset(options.get(CONF_ALLOWED_SERIALS, ())),
            replay_window=timedelta(seconds=options.get(CONF_REPLAY_WINDOW, DEFAULT_REPLAY_WINDOW)),
        )


@dataclass(slots=True)
class ButtonState:
    """What is known about one button: its last accepted click and readings."""

    serial: str
    device_id: str | None = None
    last_click: ClickMessage | None = None
    last_seen: datetime | None = None
    battery_mv: int | None = None


@dataclass(slots=True)
class IotBackupData:
    """Runtime data of a loaded entry; later issues add the backup coordinator here."""

    settings: ClickSettings
    hub: ButtonHub
    receiver: ClickReceiver
