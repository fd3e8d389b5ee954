"""IoT Backup: AWS IoT button presses arriving over MQTT as HA devices and triggers."""

from __future__ import annotations

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr, issue_registry as ir

from .buttons import ButtonHub, serial_of_device
from .const import CONF_ALLOWED_SERIALS, DOMAIN, PLATFORMS, low_battery_issue_id
from .data import ClickSettings, IotBackupConfigEntry, IotBackupData
from .receiver import ClickReceiver, accepted_ids_store


async def async_setup_entry(hass: HomeAssistant, entry: IotBackupConfigEntry) -> bool:
    """Set up buttons and platforms, then subscribe to clicks."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_not_ready")
    settings = ClickSettings.from_entry(entry)
    hub = ButtonHub(hass, entry, settings)
    hub.async_load()
    receiver = ClickReceiver(hass, entry.entry_id, settings, hub)
    entry.runtime_data = IotBackupData(settings=settings, hub=hub, receiver=receiver)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Subscribe last, so the first click finds every platform ready.
    entry.async_on_unload(receiver.async_save)
    entry.async_on_unload(await receiver.async_start())
    entry.async_on_unload(entry.add_update_listener(_async_reload_on_update))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: IotBackupConfigEntry) -> bool:
    """Unload platforms; the MQTT subscription and listeners go with async_on_unload."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: IotBackupConfigEntry) -> None:
    """Delete the entry's saved click ids."""
    await accepted_ids_store(hass, entry.entry_id).async_remove()


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: IotBackupConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a button; forget it, and drop it from the allow-list."""
    serial = serial_of_device(device)
    if serial is None:
        return True
    if entry.state is ConfigEntryState.LOADED:
        entry.runtime_data.hub.async_forget(serial)
    else:
        ir.async_delete_issue(hass, DOMAIN, low_battery_issue_id(serial))
    allowed = entry.options.get(CONF_ALLOWED_SERIALS, [])
    if serial in allowed:
        # Changing options reloads the entry, so the settings no longer allow it.
        hass.config_entries.async_update_entry(
            entry,
            options={
                **entry.options,
                CONF_ALLOWED_SERIALS: [item for item in allowed if item != serial],
            },
        )
    return True


async def _async_reload_on_update(hass: HomeAssistant, entry: IotBackupConfigEntry) -> None:
    """Reload when options (behaviour) or data (prefix, via reconfigure) change."""
    await hass.config_entries.async_reload(entry.entry_id)
