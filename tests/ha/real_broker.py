"""Home Assistant on the real broker: HA's own mqtt integration over verified TLS, and the
Lambda bridge configured for the same broker. Used by the end-to-end tests and the benchmark."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_backup.protocol import click_topic
from homeassistant.components import mqtt
from homeassistant.components.mqtt import config_flow as mqtt_config_flow  # noqa: F401
from homeassistant.config_entries import HANDLERS
from homeassistant.core import HomeAssistant
from tests.lambda_support import broker_env

from . import PREFIX

CONNECT_TIMEOUT = 15.0
ACK_TIMEOUT = "10"


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` while HA's loop keeps running; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def real_mqtt(hass: HomeAssistant, mosquitto_broker: Any) -> AsyncGenerator[None]:
    """HA's own mqtt integration connected over verified TLS as user homeassistant."""
    username, password = mosquitto_broker.credentials("homeassistant")
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title="Mosquitto",
        data={
            mqtt.CONF_BROKER: mosquitto_broker.host,
            "port": mosquitto_broker.tls_port,
            "username": username,
            "password": password,
            # The mqtt config entry stores the CA certificate's PEM text.
            mqtt.CONF_CERTIFICATE: mosquitto_broker.ca_cert.read_text(),
            "protocol": "5",
        },
        options={mqtt.CONF_DISCOVERY: False},
        # The running HA's own entry version, so no migration runs on either HA.
        version=HANDLERS[mqtt.DOMAIN].VERSION,
        minor_version=HANDLERS[mqtt.DOMAIN].MINOR_VERSION,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_for(lambda: mqtt.is_connected(hass), CONNECT_TIMEOUT, "HA to connect")
    yield
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, mosquitto_broker: Any) -> Generator[None]:
    """Configure the Lambda bridge for the test broker, waiting for acks; close it after."""
    from lambda_bridge import publisher

    for name, value in broker_env(mosquitto_broker, ack_timeout=ACK_TIMEOUT).items():
        monkeypatch.setenv(name, value)
    yield
    publisher.close()


async def wait_until_subscribed(hass: HomeAssistant, lambda_client: Any) -> None:
    """HA batches subscribes: poke with a bad payload until HA acks it."""
    probe_topic = click_topic(PREFIX, "PROBE")
    for _ in range(40):
        await hass.async_add_executor_job(lambda_client.publish, probe_topic, b"probe")
        messages = await hass.async_add_executor_job(lambda_client.wait_for_messages, 1, 0.25)
        if messages:
            return
    pytest.fail("HA never acked the probe: not subscribed to the click topics")
