"""Fixtures of the HA integration tests: custom integrations on, deprecations fatal."""

from __future__ import annotations

from collections.abc import Generator
import logging
import warnings

import pytest

from . import deprecation_findings


class _RecordingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_deprecation() -> Generator[None]:
    """Fail the test if HA or this integration logs or warns about a deprecation.

    The same suite runs on the oldest (2025.4) and newest HA, so a deprecation
    notice on either is a break waiting to happen.
    """
    handler = _RecordingHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        root.removeHandler(handler)
    if findings := deprecation_findings(handler.records, caught):
        pytest.fail("Deprecation notices:\n" + "\n".join(findings))


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    fail_on_deprecation: None, enable_custom_integrations: None
) -> None:
    """Load custom_components/iot_backup in every test."""


@pytest.fixture
def expected_lingering_timers() -> bool:
    """Tolerate the MQTT client's misc-loop timer, as HA core does for tasmota and mqtt.

    PHCC only exempts tests under tests/components/; a still-loaded mqtt entry keeps
    its 1 s paho housekeeping timer. Lingering timers are still logged.
    """
    return True


# HA's real mqtt on the real broker, and the Lambda bridge set up for it (end-to-end tests).
from .real_broker import lambda_env, real_mqtt  # noqa: E402, F401
