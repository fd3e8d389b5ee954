"""Diagnostic sensors per IoT button: battery voltage and last seen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfElectricPotential
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import ButtonState, IotBackupConfigEntry
from .entity import IotBackupButtonEntity, async_add_button_entities
from .protocol import ClickMessage

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class IotBackupSensorDescription(SensorEntityDescription):
    """A button sensor and how to read it from the button's state."""

    value_fn: Callable[[ButtonState], int | datetime | None]


SENSORS: tuple[IotBackupSensorDescription, ...] = (
    IotBackupSensorDescription(
        key="battery_voltage",
        translation_key="battery_voltage",
        device_class=SensorDeviceClass.VOLTAGE,
        native_unit_of_measurement=UnitOfElectricPotential.MILLIVOLT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda button: button.battery_mv,
    ),
    IotBackupSensorDescription(
        key="last_seen",
        translation_key="last_seen",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda button: button.last_seen,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotBackupConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of every known button, and of each new one."""
    async_add_button_entities(
        hass,
        entry,
        async_add_entities,
        lambda button, _first_click: (
            IotBackupSensor(entry, button, description) for description in SENSORS
        ),
    )


class IotBackupSensor(IotBackupButtonEntity, RestoreSensor):
    """A reading of one IoT button, kept across restarts."""

    entity_description: IotBackupSensorDescription

    async def async_added_to_hass(self) -> None:
        """Restore the last reading until the button reports a new one."""
        await super().async_added_to_hass()
        self._attr_native_value = self.entity_description.value_fn(self._button)
        if self._attr_native_value is None and (last := await self.async_get_last_sensor_data()):
            self._attr_native_value = last.native_value

    def _apply_click(self, click: ClickMessage) -> None:
        if (value := self.entity_description.value_fn(self._button)) is not None:
            self._attr_native_value = value
