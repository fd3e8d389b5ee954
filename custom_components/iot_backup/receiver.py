"""MQTT side of the integration: subscribe to clicks, validate, dedupe, ack."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .buttons import ButtonHub
from .const import (
    ACCEPTED_IDS_SAVE_DELAY,
    ACCEPTED_IDS_STORAGE_VERSION,
    DEDUPE_MAX_IDS,
    DOMAIN,
    LOGGER,
    REJECT_LOG_INTERVAL,
)
from .data import ClickSettings
from .protocol import (
    ClickMessage,
    ProtocolError,
    RejectReason,
    ack_topic,
    build_ack,
    click_subscription,
    parse_click,
    serial_from_click_topic,
)

ACK_QOS = 1
CLICK_QOS = 1
# Not a RejectReason: a click on a topic whose serial is unusable cannot be acked.
INVALID_TOPIC = "invalid_topic"


class DedupeCache:
    """Remember accepted click ids for ``ttl``, keeping at most ``max_ids`` of them."""

    def __init__(self, ttl: timedelta, max_ids: int = DEDUPE_MAX_IDS) -> None:
        """Start empty."""
        self._ttl = ttl
        self._max_ids = max_ids
        self._seen: OrderedDict[str, datetime] = OrderedDict()

    def __len__(self) -> int:
        """Return how many ids are remembered."""
        return len(self._seen)

    def seen(self, message_id: str, now: datetime) -> bool:
        """Return True if ``message_id`` was added less than ``ttl`` ago."""
        self._expire(now)
        return message_id in self._seen

    def add(self, message_id: str, now: datetime) -> None:
        """Remember ``message_id``; evict the oldest ids beyond ``max_ids``."""
        self._seen[message_id] = now
        self._seen.move_to_end(message_id)
        while len(self._seen) > self._max_ids:
            self._seen.popitem(last=False)

    def to_storage(self) -> dict[str, list[list[str]]]:
        """Return the remembered ids, oldest first, as JSON-ready data."""
        return {
            "ids": [[message_id, added.isoformat()] for message_id, added in self._seen.items()]
        }

    def restore(self, saved: dict[str, list[list[str]]], now: datetime) -> None:
        """Remember the ids of ``to_storage`` data again, dropping the expired ones."""
        for message_id, added in saved.get("ids", []):
            if (added_at := dt_util.parse_datetime(added)) is not None:
                self.add(message_id, added_at)
        self._expire(now)

    def _expire(self, now: datetime) -> None:
        horizon = now - self._ttl
        while self._seen:
            oldest_id, added = next(iter(self._seen.items()))
            if added > horizon:
                break
            del self._seen[oldest_id]


@dataclass(slots=True)
class _ReasonLog:
    last_logged: datetime
    suppressed: int = 0


class RejectLog:
    """Log rejections at most once per reason per interval, counting the rest."""

    def __init__(self, interval: timedelta = REJECT_LOG_INTERVAL) -> None:
        """Start with nothing logged."""
        self._interval = interval
        self._by_reason: dict[str, _ReasonLog] = {}
        self.counts: dict[str, int] = {}

    def reject(self, reason: str, topic: str, detail: str, now: datetime) -> None:
        """Count a rejection and log it unless ``reason`` was logged within the interval."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        previous = self._by_reason.get(reason)
        if previous is not None and now - previous.last_logged < self._interval:
            previous.suppressed += 1
            return
        suppressed = previous.suppressed if previous is not None else 0
        LOGGER.warning(
            "Rejected click on %s: %s (%s)%s",
            topic,
            reason,
            detail,
            f"; {suppressed} more '{reason}' rejections were not logged" if suppressed else "",
        )
        self._by_reason[reason] = _ReasonLog(now)


def accepted_ids_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, list[list[str]]]]:
    """Return the store of an entry's accepted click ids."""
    return Store(hass, ACCEPTED_IDS_STORAGE_VERSION, f"{DOMAIN}.{entry_id}.accepted_ids")


class ClickReceiver:
    """Subscribe to an entry's click topics and answer every click with an ack.

    Accepted ids are saved, so a retry that arrives after a reload or a restart of
    Home Assistant is still recognised as a duplicate.
    """

    def __init__(
        self, hass: HomeAssistant, entry_id: str, settings: ClickSettings, hub: ButtonHub
    ) -> None:
        """Prepare; nothing is loaded or subscribed until async_start."""
        self._hass = hass
        self._settings = settings
        self._hub = hub
        self._store = accepted_ids_store(hass, entry_id)
        # A click's ts may be up to a window ahead of now, and its copies pass the replay
        # check until ts + window: so its id must be kept for twice the window.
        self.dedupe = DedupeCache(2 * settings.replay_window)
        self.reject_log = RejectLog()
        self.accepted = 0
        self.duplicates = 0

    async def async_start(self) -> CALLBACK_TYPE:
        """Load the saved ids, then subscribe (QoS 1) to every button's click topic.

        Returns the unsubscribe.
        """
        if saved := await self._store.async_load():
            self.dedupe.restore(saved, dt_util.utcnow())
        return await mqtt.async_subscribe(
            self._hass,
            click_subscription(self._settings.prefix),
            self._async_on_message,
            qos=CLICK_QOS,
            encoding=None,  # raw bytes: non-UTF-8 input must be acked not_json, not dropped
        )

    async def _async_on_message(self, msg: mqtt.ReceiveMessage) -> None:
        """Validate one click, act on it, then ack it."""
        now = dt_util.utcnow()
        topic_serial = serial_from_click_topic(self._settings.prefix, msg.topic)
        if topic_serial is None:
            self.reject_log.reject(INVALID_TOPIC, msg.topic, "topic serial is not valid", now)
            return
        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
        try:
            click = parse_click(payload)
            self._check_topic(click, topic_serial)
            # Dedupe before the clock and allow-list: a late copy of a run press is a duplicate.
            if not (duplicate := self.dedupe.seen(click.id, now)):
                self._check(click, now)
        except ProtocolError as err:
            self.reject_log.reject(err.reason, msg.topic, str(err), now)
            await self._async_ack(topic_serial, err.message_id, "rejected", err.reason)
            return
        if duplicate:
            self.duplicates += 1
            LOGGER.debug("Duplicate click %s on %s", click.id, msg.topic)
            await self._async_ack(topic_serial, click.id, "duplicate")
            return
        self.dedupe.add(click.id, now)
        self._store.async_delay_save(self.dedupe.to_storage, ACCEPTED_IDS_SAVE_DELAY)
        self.accepted += 1
        # Dispatch first: the ack tells the Lambda the press already took effect.
        self._hub.async_handle_click(click)
        # One turn of the loop lets the triggered automations start before the ack.
        await asyncio.sleep(0)
        await self._async_ack(topic_serial, click.id, "accepted")

    async def async_save(self) -> None:
        """Write the accepted ids now (on unload), instead of after the save delay."""
        await self._store.async_save(self.dedupe.to_storage())

    def _check_topic(self, click: ClickMessage, topic_serial: str) -> None:
        """Raise ProtocolError unless ``click`` names the serial of its topic."""
        if click.serial != topic_serial:
            raise ProtocolError(
                "serial",
                "serial must match the topic's serial, got a different one",
                RejectReason.SERIAL_MISMATCH,
                click.id,
            )

    def _check(self, click: ClickMessage, now: datetime) -> None:
        """Raise ProtocolError unless ``click`` fits the clock and the allow-list."""
        skew = abs(now - click.timestamp)
        if skew > self._settings.replay_window:
            raise ProtocolError(
                "ts",
                f"ts must be within {int(self._settings.replay_window.total_seconds())} s "
                f"of now, got {int(skew.total_seconds())} s off",
                RejectReason.STALE,
                click.id,
            )
        if not self._hub.is_allowed(click.serial):
            raise ProtocolError(
                "serial",
                "serial is not on the allow-list",
                RejectReason.UNKNOWN_SERIAL,
                click.id,
            )

    async def _async_ack(
        self,
        serial: str,
        message_id: str | None,
        status: str,
        reason: str | None = None,
    ) -> None:
        ack = build_ack(message_id, status, reason)
        try:
            await mqtt.async_publish(
                self._hass, ack_topic(self._settings.prefix, serial), ack.to_payload(), ACK_QOS
            )
        except HomeAssistantError as err:
            LOGGER.warning("Could not ack click %s as %s: %s", message_id, status, err)
