"""``make bench``, Home Assistant part: press -> device trigger latency, and a 1,000-click burst.

Prints numbers and asserts only correctness (every press handled exactly once), never timing.
Real parts only: the project's TLS Mosquitto, HA's own mqtt integration as ``homeassistant``,
the Lambda handler and raw paho as ``lambda``.

1. Warm latency, four interleaved series in one run against one broker: a persistent raw paho
   publisher and the warm Lambda handler, each timed to a persistent ``mosquitto_sub`` and to
   the ``single_press`` device-trigger automation's action in HA.
2. Burst: 1,000 valid clicks over 100 new serials, pipelined by raw paho; the event-loop stall
   while HA handles them, the time until all are handled, and exactly-once checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import os
import random
import time
from typing import Any
import uuid

import pytest

from custom_components.iot_backup.const import DOMAIN, EVENT_CLICK
from custom_components.iot_backup.protocol import click_topic, parse_ack
from homeassistant.components import automation
from homeassistant.core import Event, HomeAssistant, ServiceCall, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from scripts.bench import (
    SERIAL,
    RawPublisher,
    Receiver,
    handler_press,
    percentile,
    row,
    wait_until_subscribed,
)
from tests.ha import PREFIX, click_payload, setup_integration
from tests.ha.real_broker import wait_until_subscribed as wait_until_ha_subscribed

pytestmark = pytest.mark.usefixtures("socket_enabled", "mock_hass_config")

WARM_UP = 20
HA_TIMEOUT = 5.0
BURST_SERIALS = 100
BURST_PER_SERIAL = 10
BURST_TIMEOUT = 120.0
MONITOR_SLEEP = 0.005
HEADER = f"{'series (ms)':<44}{'n':>6}{'p50':>10}{'p99':>10}"


class ActionRecorder:
    """The ``bench.record`` service the automation calls: perf_counter time per click id."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Register the service on ``hass``."""
        self.ran: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future[float]] = {}
        hass.services.async_register("bench", "record", self._record)

    @callback
    def _record(self, call: ServiceCall) -> None:
        ran = time.perf_counter()
        click_id = call.data["click_id"]
        assert click_id not in self.ran, f"automation ran twice for click {click_id}"
        self.ran[click_id] = ran
        if (waiter := self._waiters.pop(click_id, None)) is not None and not waiter.done():
            waiter.set_result(ran)

    async def ran_at(self, click_id: str, timeout: float = HA_TIMEOUT) -> float:
        """Return when the action ran for ``click_id``; raise TimeoutError after ``timeout``."""
        if click_id in self.ran:
            return self.ran[click_id]
        waiter = self._waiters[click_id] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._waiters.pop(click_id, None)


class StallMonitor:
    """Sleep MONITOR_SLEEP in a loop on HA's event loop and record each overshoot in ms."""

    def __init__(self) -> None:
        """Not running until start."""
        self.overshoots: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling (clears earlier samples)."""
        self.overshoots = []
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> list[float]:
        """Stop sampling and return the overshoots."""
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        return self.overshoots

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(MONITOR_SLEEP)
            self.overshoots.append((time.perf_counter() - before - MONITOR_SLEEP) * 1000)


async def _add_press_automation(hass: HomeAssistant, device_id: str) -> None:
    """A ``single_press`` device-trigger automation calling ``bench.record`` with the click id."""
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "mode": "parallel",
                "triggers": {
                    "trigger": "device",
                    "domain": DOMAIN,
                    "device_id": device_id,
                    "type": "single_press",
                },
                "actions": {
                    "action": "bench.record",
                    "data": {"click_id": "{{ trigger.event.data.id }}"},
                },
            }
        },
    )


def _timed(send: Callable[[str], None], receiver: Receiver) -> Callable[[str], tuple[float, float]]:
    """Wrap ``send`` for the executor: return (call start, mosquitto_sub arrival), perf_counter."""

    def run(click_id: str) -> tuple[float, float]:
        started = time.perf_counter()
        send(click_id)
        return started, receiver.arrival(click_id)

    return run


async def test_press_to_device_trigger_latency(
    hass: HomeAssistant,
    real_mqtt: None,
    mosquitto_broker: Any,
    lambda_env: None,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    bench_report: Callable[[str], None],
) -> None:
    """Warm press -> automation action, Lambda handler vs raw paho, to HA and to mosquitto_sub."""
    monkeypatch.setenv("IOT_BACKUP_ACK_TIMEOUT", "0")
    presses = request.config.getoption("--presses")
    await setup_integration(hass, allow_unknown_serials=True, allowed_serials=[SERIAL])
    device = dr.async_get(hass).async_get_device({(DOMAIN, SERIAL)})
    recorder = ActionRecorder(hass)
    await _add_press_automation(hass, device.id)

    receiver = await hass.async_add_executor_job(Receiver, mosquitto_broker)
    raw = await hass.async_add_executor_job(RawPublisher, mosquitto_broker)
    series: dict[str, list[float]] = {
        name: [] for name in ("raw_sub", "raw_ha", "handler_sub", "handler_ha")
    }
    try:
        senders = {"raw": _timed(raw.publish, receiver), "handler": _timed(handler_press, receiver)}
        await hass.async_add_executor_job(wait_until_subscribed, receiver, raw)
        # HA batches its subscribes: probe until the automation runs.
        for attempt in range(40):
            click_id = f"probe-{uuid.uuid4().hex}"
            await hass.async_add_executor_job(senders["raw"], click_id)
            try:
                await recorder.ran_at(click_id, timeout=0.25)
                break
            except TimeoutError:
                if attempt == 39:
                    pytest.fail("HA never ran the automation: not subscribed to the click topics")
        for index in range(WARM_UP + presses):
            # Interleaved, so drift on the shared machine touches both publishers alike.
            for name, send in senders.items():
                click_id = f"bench-{name}-{uuid.uuid4().hex}"
                started, at_sub = await hass.async_add_executor_job(send, click_id)
                at_ha = await recorder.ran_at(click_id)
                if index >= WARM_UP:
                    series[f"{name}_sub"].append((at_sub - started) * 1000)
                    series[f"{name}_ha"].append((at_ha - started) * 1000)
    finally:
        await hass.async_add_executor_job(raw.close)
        await hass.async_add_executor_job(receiver.close)
    await hass.async_block_till_done()

    # Every press ran the automation (ran_at waited for it), none twice (ActionRecorder checks).
    assert all(len(samples) == presses for samples in series.values())
    ratio = percentile(series["handler_ha"], 0.99) / percentile(series["raw_sub"], 0.99)
    bench_report(
        f"warm press -> single_press device trigger -> automation action; HA's mqtt "
        f"over TLS to the project's Mosquitto, QoS1, MQTT v5; {os.cpu_count()} cores"
    )
    bench_report(HEADER)
    bench_report(row("raw paho publisher -> mosquitto_sub", series["raw_sub"]))
    bench_report(row("raw paho publisher -> HA automation", series["raw_ha"]))
    bench_report(row("Lambda handler -> mosquitto_sub", series["handler_sub"]))
    bench_report(row("Lambda handler -> HA automation", series["handler_ha"]))
    bench_report(f"{'      p99 handler->HA / raw->sub (target <= 1.5)':<60}{ratio:>10.2f}")
    raw_ratio = percentile(series["raw_ha"], 0.99) / percentile(series["raw_sub"], 0.99)
    bench_report(f"{"      p99 raw->HA / raw->sub (HA's own share)":<60}{raw_ratio:>10.2f}")


async def test_burst_of_1000_clicks(
    hass: HomeAssistant,
    real_mqtt: None,
    mosquitto_broker: Any,
    mqtt_connect: Any,
    bench_report: Callable[[str], None],
) -> None:
    """1,000 clicks over 100 new serials as fast as paho sends them: each handled exactly once."""
    entry = await setup_integration(hass, allow_unknown_serials=True)
    handled_at: list[float] = []
    clicks: list[Event] = []

    @callback
    def on_click(event: Event) -> None:
        handled_at.append(time.monotonic())
        clicks.append(event)

    hass.bus.async_listen(EVENT_CLICK, on_click)
    outcome = mqtt_connect("lambda")
    assert outcome.connected, outcome.error
    acks_client = outcome.client
    assert acks_client.subscribe(f"{PREFIX}/+/ack") == [1]
    await wait_until_ha_subscribed(hass, acks_client)
    await hass.async_add_executor_job(acks_client.wait_for_messages, 100, 0.5)  # drain probes

    serials = [f"G030BURST{number:07d}" for number in range(BURST_SERIALS)]
    burst = [(serial, uuid.uuid4().hex) for serial in serials for _ in range(BURST_PER_SERIAL)]
    random.Random(20260131).shuffle(burst)
    messages = [
        (click_topic(PREFIX, serial), click_payload(serial, message_id=click_id))
        for serial, click_id in burst
    ]
    sent_ids = {click_id for _serial, click_id in burst}
    assert len(sent_ids) == len(burst) == BURST_SERIALS * BURST_PER_SERIAL

    monitor = StallMonitor()
    monitor.start()
    await asyncio.sleep(1.0)
    idle = await monitor.stop()

    raw = await hass.async_add_executor_job(RawPublisher, mosquitto_broker)

    def publish_all() -> tuple[float, float]:
        started = time.monotonic()
        infos = [raw.client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(30)
            assert info.is_published()
        return started, time.monotonic()

    acks: list[Any] = []
    monitor.start()
    try:
        started, pubacked = await hass.async_add_executor_job(publish_all)
        deadline = time.monotonic() + BURST_TIMEOUT
        while (len(acks) < len(burst) or len(clicks) < len(burst)) and time.monotonic() < deadline:
            acks += await hass.async_add_executor_job(
                acks_client.wait_for_messages, len(burst) - len(acks), 0.2
            )
        stalls = await monitor.stop()
        # Anything extra (a second handling of some press) would arrive now.
        await asyncio.sleep(0.5)
        await hass.async_block_till_done()
        acks += await hass.async_add_executor_job(acks_client.wait_for_messages, 10_000, 0.3)
    finally:
        await hass.async_add_executor_job(raw.close)

    # Exactly once: one bus event and one 'accepted' ack per press, one device per serial.
    click_ids = [event.data["id"] for event in clicks]
    assert len(click_ids) == len(burst), f"{len(click_ids)} click events for {len(burst)} presses"
    assert set(click_ids) == sent_ids
    parsed = [parse_ack(message.payload) for message in acks]
    accepted = [ack.id for ack in parsed if ack.status == "accepted"]
    assert len(accepted) == len(burst), f"{len(accepted)} accepted acks for {len(burst)} presses"
    assert set(accepted) == sent_ids
    assert [ack for ack in parsed if ack.status == "rejected"] == []
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert sorted(serial for device in devices for _d, serial in device.identifiers) == serials
    assert entry.runtime_data.receiver.accepted == len(burst)

    last_ack = max(message.timestamp for message in acks)  # paho stamps time.monotonic()
    duplicates = sum(ack.status == "duplicate" for ack in parsed)
    sleep_ms = int(MONITOR_SLEEP * 1000)
    bench_report(
        f"burst: {len(burst)} clicks over {BURST_SERIALS} new serials, raw paho as "
        "lambda (QoS1, pipelined) -> Mosquitto -> HA"
    )
    bench_report(
        f"{f'event loop: overshoot of a {sleep_ms} ms sleep (ms)':<44}"
        f"{'n':>6}{'p50':>10}{'p99':>10}{'max':>10}"
    )
    for label, samples in (
        ("      idle, 1 s before the burst", idle),
        ("      during the burst", stalls),
    ):
        bench_report(f"{row(label, samples)}{max(samples):>10.2f}")
    for label, at in (
        ("all PUBACKs at the publisher", pubacked),
        ("all click events fired in HA", max(handled_at)),
        ("all acks at a lambda subscriber", last_ack),
    ):
        bench_report(
            f"{'      first publish -> ' + label + ' (ms)':<60}{(at - started) * 1000:>10.1f}"
        )
    bench_report(
        f"{'      click events / accepted acks / devices':<50}"
        f"{f'{len(clicks)} / {len(accepted)} / {len(devices)}':>20}"
    )
    bench_report(f"{'      duplicate acks (QoS1 redeliveries)':<60}{duplicates:>10}")
