"""Config, options and reconfigure flows for IoT Backup.

Entry data holds the topic prefix (what the entry is; also its unique_id).
Entry options hold behaviour (allow-list mode, serials, replay window).
A press on the default prefix's click topic (the manifest's ``mqtt`` key) starts
a discovery flow that offers the user step's entry, allow-listing that button.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
)
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from .buttons import serial_of_device
from .const import (
    CONF_ALLOW_UNKNOWN_SERIALS,
    CONF_ALLOWED_SERIALS,
    CONF_PREFIX,
    CONF_REPLAY_WINDOW,
    DEFAULT_ALLOW_UNKNOWN_SERIALS,
    DEFAULT_PREFIX,
    DEFAULT_REPLAY_WINDOW,
    DOMAIN,
    MAX_REPLAY_WINDOW,
    MIN_REPLAY_WINDOW,
)
from .protocol import (
    ProtocolError,
    parse_click,
    serial_from_click_topic,
    validate_prefix,
    validate_serial,
)

MQTT_DOMAIN = "mqtt"


def _form_schema(fields: dict[vol.Marker, Any]) -> Any:
    """Return ``vol.Schema(fields)``, typed Any for the flow's form helpers.

    HA 2026 types forms as probatio.Schema, which ``voluptuous`` becomes at run time,
    while mypy sees the real voluptuous package; HA 2025.4 types them as vol.Schema.
    """
    return vol.Schema(fields)


def _behaviour_schema(defaults: dict[str, Any]) -> dict[vol.Marker, Any]:
    """Return the form fields of the options (behaviour), defaulting to ``defaults``."""
    return {
        vol.Required(
            CONF_ALLOW_UNKNOWN_SERIALS,
            default=defaults.get(CONF_ALLOW_UNKNOWN_SERIALS, DEFAULT_ALLOW_UNKNOWN_SERIALS),
        ): BooleanSelector(),
        vol.Optional(
            CONF_ALLOWED_SERIALS, default=list(defaults.get(CONF_ALLOWED_SERIALS, []))
        ): TextSelector(TextSelectorConfig(multiple=True)),
        vol.Required(
            CONF_REPLAY_WINDOW,
            default=defaults.get(CONF_REPLAY_WINDOW, DEFAULT_REPLAY_WINDOW),
        ): NumberSelector(
            NumberSelectorConfig(
                min=MIN_REPLAY_WINDOW,
                max=MAX_REPLAY_WINDOW,
                step=1,
                unit_of_measurement="s",
                mode=NumberSelectorMode.BOX,
            )
        ),
    }


def _clean_behaviour(user_input: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """Return normalised options from a form, adding field errors to ``errors``."""
    serials: list[str] = []
    for serial in user_input.get(CONF_ALLOWED_SERIALS, []):
        serial = serial.strip()
        if not serial:
            continue
        try:
            validate_serial(serial)
        except ProtocolError:
            errors[CONF_ALLOWED_SERIALS] = "invalid_serial"
            break
        if serial not in serials:
            serials.append(serial)
    allow_unknown = user_input[CONF_ALLOW_UNKNOWN_SERIALS]
    if not allow_unknown and not serials and CONF_ALLOWED_SERIALS not in errors:
        errors[CONF_ALLOWED_SERIALS] = "serials_required"
    return {
        CONF_ALLOW_UNKNOWN_SERIALS: allow_unknown,
        CONF_ALLOWED_SERIALS: serials,
        CONF_REPLAY_WINDOW: int(user_input[CONF_REPLAY_WINDOW]),
    }


def _clean_prefix(user_input: dict[str, Any], errors: dict[str, str]) -> str:
    """Return the stripped prefix of a form, adding an error if it is invalid."""
    prefix: str = user_input[CONF_PREFIX].strip()
    try:
        validate_prefix(prefix)
    except ProtocolError:
        errors[CONF_PREFIX] = "invalid_prefix"
    return prefix


class IotBackupConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add an entry listening on one topic prefix."""

    VERSION = 1
    MINOR_VERSION = 1

    # The serial whose press started a discovery flow; set by async_step_mqtt.
    _discovered_serial: str

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the prefix and behaviour; abort if MQTT is not set up."""
        if not self.hass.config_entries.async_entries(MQTT_DOMAIN):
            return self.async_abort(reason="mqtt_not_configured")
        errors: dict[str, str] = {}
        if user_input is not None:
            prefix = _clean_prefix(user_input, errors)
            options = _clean_behaviour(user_input, errors)
            if not errors:
                # A filled-in form wins over a pending discovered setup, which HA then ends.
                await self.async_set_unique_id(prefix, raise_on_progress=False)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=prefix, data={CONF_PREFIX: prefix}, options=options
                )
        schema = _form_schema(
            {
                vol.Required(CONF_PREFIX, default=DEFAULT_PREFIX): TextSelector(),
                **_behaviour_schema({}),
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """Start setup from a press on ``<default prefix>/<serial>/click``.

        Aborts ``invalid_discovery_info`` unless the message is a valid click of the
        topic's serial, and ``already_configured`` if the default prefix has an entry.
        """
        serial = serial_from_click_topic(DEFAULT_PREFIX, discovery_info.topic)
        if serial is None:
            return self.async_abort(reason="invalid_discovery_info")
        # Before async_set_unique_id: aborting with a unique id adds the topic to the
        # entry's discovery keys, and that update reloads the entry (once per button).
        if self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, DEFAULT_PREFIX):
            return self.async_abort(reason="already_configured")
        payload = discovery_info.payload
        try:
            click = parse_click(bytes(payload) if isinstance(payload, bytearray) else payload)
        except ProtocolError:
            return self.async_abort(reason="invalid_discovery_info")
        if click.serial != serial:
            return self.async_abort(reason="invalid_discovery_info")
        # Aborts already_in_progress when another button (or press) was discovered first.
        await self.async_set_unique_id(DEFAULT_PREFIX)
        self._discovered_serial = serial
        self.context["title_placeholders"] = {"serial": serial}
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm a discovered setup; the behaviour form allow-lists the discovered button."""
        errors: dict[str, str] = {}
        if user_input is not None:
            options = _clean_behaviour(user_input, errors)
            if not errors:
                return self.async_create_entry(
                    title=DEFAULT_PREFIX, data={CONF_PREFIX: DEFAULT_PREFIX}, options=options
                )
        schema = _form_schema(_behaviour_schema({CONF_ALLOWED_SERIALS: [self._discovered_serial]}))
        return self.async_show_form(
            step_id="confirm",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders={
                "serial": self._discovered_serial,
                "prefix": DEFAULT_PREFIX,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the topic prefix of an entry."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            prefix = _clean_prefix(user_input, errors)
            if not errors:
                await self.async_set_unique_id(prefix)
                if prefix != entry.unique_id:
                    self._abort_if_unique_id_configured()
                # The entry's update listener reloads it; no async_update_reload_and_abort.
                self.hass.config_entries.async_update_entry(
                    entry, unique_id=prefix, title=prefix, data={CONF_PREFIX: prefix}
                )
                return self.async_abort(reason="reconfigure_successful")
        schema = _form_schema({vol.Required(CONF_PREFIX): TextSelector()})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or dict(entry.data)),
            errors=errors,
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> IotBackupOptionsFlow:
        """Return the options flow."""
        return IotBackupOptionsFlow()


class IotBackupOptionsFlow(OptionsFlow):
    """Change how an entry treats clicks."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Edit allow-list mode, serials and replay window."""
        errors: dict[str, str] = {}
        if user_input is not None:
            options = _clean_behaviour(user_input, errors)
            if not errors:
                return self.async_create_entry(data=options)
        defaults = dict(self.config_entry.options)
        defaults[CONF_ALLOWED_SERIALS] = self._known_serials()
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                _form_schema(_behaviour_schema(defaults)), user_input
            ),
            errors=errors,
        )

    def _known_serials(self) -> list[str]:
        """Return allow-listed serials, then those of known devices.

        Switching to allow-listing then keeps the buttons already in use.
        """
        serials = list(self.config_entry.options.get(CONF_ALLOWED_SERIALS, []))
        devices = dr.async_entries_for_config_entry(
            dr.async_get(self.hass), self.config_entry.entry_id
        )
        known = {serial for device in devices if (serial := serial_of_device(device))}
        return serials + sorted(known - set(serials))
