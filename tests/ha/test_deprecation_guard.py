"""The autouse deprecation guard recognises HA's deprecation notices."""

from __future__ import annotations

import logging
import warnings

from . import deprecation_findings


def _record(name: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, None, None)


def _warning(message: str, filename: str, category: type[Warning]) -> warnings.WarningMessage:
    return warnings.WarningMessage(message, category, filename, 1)


def test_guard_flags_ha_notices() -> None:
    """report_usage logs, 'deprecated' HA logs and HA DeprecationWarnings are flagged."""
    records = [
        _record(
            "homeassistant.helpers.frame",
            "Detected that custom integration 'iot_backup' sets option flow config_entry "
            "explicitly, which is deprecated at custom_components/iot_backup/config_flow.py",
        ),
        _record(
            "homeassistant.const",
            "CONF_X was used from custom_components.iot_backup, this is a deprecated constant",
        ),
        _record("homeassistant.helpers.frame", "Detected code that calls async_x. Please report"),
    ]
    caught = [
        _warning(
            "x is deprecated",
            "/venv/lib/python3.13/site-packages/homeassistant/core.py",
            DeprecationWarning,
        ),
        _warning("y", "/repo/custom_components/iot_backup/event.py", PendingDeprecationWarning),
    ]
    assert len(deprecation_findings(records, caught)) == 5


def test_guard_ignores_other_sources() -> None:
    """Third-party deprecations and unrelated HA logs are not this suite's business."""
    records = [
        _record("paho.mqtt.client", "Callback API version 1 is deprecated"),
        _record("homeassistant.loader", "We found a custom integration iot_backup"),
    ]
    caught = [
        _warning(
            "old api deprecated", "/venv/site-packages/paho/mqtt/client.py", DeprecationWarning
        ),
        _warning("resource", "/repo/custom_components/iot_backup/x.py", ResourceWarning),
    ]
    assert deprecation_findings(records, caught) == []
