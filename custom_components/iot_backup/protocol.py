"""iot-backup wire protocol v1: the one definition of topics, click and ack messages.

Both deployables use this file: the Home Assistant integration imports it, and the
Lambda bridge loads the very same file (``lambda_bridge/protocol.py`` is a link to it,
and the Lambda zip packs it). It uses only the standard library and no dataclasses,
so the Lambda's click path does not pay for heavy imports.

``docs/protocol.md`` describes the format in prose, ``docs/protocol-v1.schema.json``
as JSON Schema, and ``tests/vectors/`` holds the shared valid and invalid messages.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
import json
import re
from typing import Any, NamedTuple

PROTOCOL_VERSION = 1
DEFAULT_TOPIC_PREFIX = "iot_backup"
MAX_MESSAGE_BYTES = 1024
CLICK_TYPES = ("single", "double", "long")
ACK_STATUSES = ("accepted", "duplicate", "rejected")
BATTERY_MV_MAX = 10_000

SERIAL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
SOURCE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
# [0-9], not \d: in Python \d also matches non-ASCII digits such as '２'.
# Hour 24 and minute/second 60 are refused here: Python 3.14's fromisoformat takes 24:00.
TS_PATTERN = re.compile(
    r"(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z"
)
_PREFIX_MAX = 64


class RejectReason(StrEnum):
    """Why a consumer refused a click; sent back in a ``rejected`` ack."""

    OVERSIZE = "oversize"
    NOT_JSON = "not_json"
    INVALID = "invalid"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_CLICK_TYPE = "unknown_click_type"
    SERIAL_MISMATCH = "serial_mismatch"
    STALE = "stale"
    UNKNOWN_SERIAL = "unknown_serial"


class ProtocolError(ValueError):
    """A message or value breaks protocol v1.

    ``field`` names the offending field (``payload`` for the message as a whole),
    ``reason`` is the RejectReason a consumer acks with, and ``message_id`` is the
    message's id when it could be read, so even a rejection can be acked.
    """

    def __init__(
        self,
        field: str,
        message: str,
        reason: RejectReason = RejectReason.INVALID,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.message_id = message_id


class ClickMessage(NamedTuple):
    """One button press as it travels on ``<prefix>/<serial>/click``."""

    id: str
    serial: str
    click_type: str
    battery_mv: int | None
    ts: str
    source: str
    v: int = PROTOCOL_VERSION

    def to_payload(self) -> bytes:
        """Return the compact UTF-8 JSON payload."""
        return _dump(
            {
                "v": self.v,
                "id": self.id,
                "serial": self.serial,
                "click_type": self.click_type,
                "battery_mv": self.battery_mv,
                "ts": self.ts,
                "source": self.source,
            }
        )

    @property
    def timestamp(self) -> datetime:
        """Return ``ts`` as an aware UTC datetime."""
        return parse_timestamp(self.ts)


class AckMessage(NamedTuple):
    """A consumer's answer on ``<prefix>/<serial>/ack`` to one click."""

    id: str | None
    status: str
    reason: str | None
    ts: str
    v: int = PROTOCOL_VERSION

    def to_payload(self) -> bytes:
        """Return the compact UTF-8 JSON payload."""
        return _dump(
            {
                "v": self.v,
                "id": self.id,
                "status": self.status,
                "reason": self.reason,
                "ts": self.ts,
            }
        )


# Topics: built here and nowhere else.


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a usable topic prefix, else raise ProtocolError."""
    if (
        not isinstance(prefix, str)
        or len(prefix) > _PREFIX_MAX
        or not PREFIX_PATTERN.fullmatch(prefix)
    ):
        raise ProtocolError(
            "prefix",
            "prefix must be 1-64 characters of letters, digits, '_', '-' and "
            f"inner '/', with no MQTT wildcards, got {_show(prefix)}",
        )
    return prefix


def click_topic(prefix: str, serial: str) -> str:
    """Return the topic a button's clicks are published on."""
    return f"{validate_prefix(prefix)}/{validate_serial(serial)}/click"


def ack_topic(prefix: str, serial: str) -> str:
    """Return the topic a consumer acknowledges a button's clicks on."""
    return f"{validate_prefix(prefix)}/{validate_serial(serial)}/ack"


def status_topic(prefix: str) -> str:
    """Return the retained status topic."""
    return f"{validate_prefix(prefix)}/status"


def click_subscription(prefix: str) -> str:
    """Return the topic filter that matches every button's clicks."""
    return f"{validate_prefix(prefix)}/+/click"


def serial_from_click_topic(prefix: str, topic: str) -> str | None:
    """Return the serial of a ``<prefix>/<serial>/click`` topic, or None if it is not one."""
    head = f"{prefix}/"
    if not topic.startswith(head) or not topic.endswith("/click"):
        return None
    serial = topic[len(head) : -len("/click")]
    return serial if SERIAL_PATTERN.fullmatch(serial) else None


# Field checks: each names the field and the kind of value it got.


def validate_serial(serial: Any) -> str:
    """Return ``serial`` if valid, else raise ProtocolError naming ``serial``."""
    if not isinstance(serial, str) or not SERIAL_PATTERN.fullmatch(serial):
        raise ProtocolError(
            "serial",
            "serial must be 1-64 characters of letters, digits, '_' and '-' "
            f"(no '/', '+', '#' or spaces), got {_show(serial)}",
        )
    return serial


def validate_click_type(click_type: Any) -> str:
    """Return ``click_type`` if it is one of CLICK_TYPES, else raise ProtocolError."""
    if not isinstance(click_type, str):
        raise ProtocolError("click_type", f"click_type must be a string, got {_show(click_type)}")
    if click_type not in CLICK_TYPES:
        raise ProtocolError(
            "click_type",
            f"click_type must be one of {', '.join(CLICK_TYPES)}, got {_show(click_type)}",
            RejectReason.UNKNOWN_CLICK_TYPE,
        )
    return click_type


def validate_id(message_id: Any) -> str:
    """Return ``message_id`` if valid, else raise ProtocolError naming ``id``."""
    if not isinstance(message_id, str) or not ID_PATTERN.fullmatch(message_id):
        raise ProtocolError(
            "id",
            "id must be 1-64 characters of letters, digits, '.', '_', ':' and '-', "
            f"got {_show(message_id)}",
        )
    return message_id


def validate_battery_mv(battery_mv: Any) -> int | None:
    """Return ``battery_mv`` if it is null or an integer 0..10000, else raise."""
    if battery_mv is None:
        return None
    if (
        isinstance(battery_mv, bool)
        or not isinstance(battery_mv, int)
        or not 0 <= battery_mv <= BATTERY_MV_MAX
    ):
        raise ProtocolError(
            "battery_mv",
            f"battery_mv must be null or an integer 0..{BATTERY_MV_MAX}, got {_show(battery_mv)}",
        )
    return battery_mv


def validate_source(source: Any) -> str:
    """Return ``source`` if valid, else raise ProtocolError naming ``source``."""
    if not isinstance(source, str) or not SOURCE_PATTERN.fullmatch(source):
        raise ProtocolError(
            "source",
            "source must be 1-32 characters of lowercase letters, digits, '_' and '-', "
            f"got {_show(source)}",
        )
    return source


def parse_timestamp(ts: Any, field: str = "ts") -> datetime:
    """Parse an RFC 3339 UTC timestamp ending in ``Z`` into an aware datetime."""
    if not isinstance(ts, str) or not TS_PATTERN.fullmatch(ts):
        raise ProtocolError(
            field,
            f"{field} must be an RFC 3339 UTC time like 2026-01-31T12:00:00.000Z, got {_show(ts)}",
        )
    try:
        return datetime.fromisoformat(ts[:-1]).replace(tzinfo=UTC)
    except ValueError as err:
        raise ProtocolError(field, f"{field} is not a real date and time, got {_show(ts)}") from err


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with milliseconds, e.g. ``...T12:00:00.000Z``."""
    if moment.tzinfo is None:
        raise ValueError("format_timestamp needs an aware datetime")
    # isoformat, not strftime("%Y"): glibc does not zero-pad years before 1000.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def now_timestamp() -> str:
    """Return the current time in protocol form."""
    return format_timestamp(datetime.now(UTC))


# Messages.


def build_click(
    *,
    message_id: str,
    serial: str,
    click_type: str,
    battery_mv: int | None,
    ts: str,
    source: str,
) -> ClickMessage:
    """Validate each field and return a ClickMessage; raise ProtocolError naming the bad field."""
    click = ClickMessage(
        id=validate_id(message_id),
        serial=validate_serial(serial),
        click_type=validate_click_type(click_type),
        battery_mv=validate_battery_mv(battery_mv),
        ts=ts,
        source=validate_source(source),
    )
    parse_timestamp(ts)
    if len(click.to_payload()) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            "payload",
            f"payload must be at most {MAX_MESSAGE_BYTES} bytes",
            RejectReason.OVERSIZE,
            click.id,
        )
    return click


def parse_click(payload: bytes | str) -> ClickMessage:
    """Parse and validate a click payload; raise ProtocolError with field and reason.

    Unknown extra fields are ignored: v1 may gain optional fields (docs/protocol.md).
    """
    document = _load_object(payload)
    raw_id = document.get("id")
    message_id = raw_id if isinstance(raw_id, str) and ID_PATTERN.fullmatch(raw_id) else None
    try:
        _check_version(document)
        for field in ("id", "serial", "click_type", "battery_mv", "ts", "source"):
            if field not in document:
                raise ProtocolError(field, f"{field} is required")
        return build_click(
            message_id=document["id"],
            serial=document["serial"],
            click_type=document["click_type"],
            battery_mv=document["battery_mv"],
            ts=document["ts"],
            source=document["source"],
        )
    except ProtocolError as err:
        err.message_id = message_id
        raise


def build_ack(message_id: str | None, status: str, reason: str | None = None) -> AckMessage:
    """Return an ack for ``message_id``; ``reason`` is required exactly when rejected."""
    if status not in ACK_STATUSES:
        raise ProtocolError(
            "status", f"status must be one of {', '.join(ACK_STATUSES)}, got {_show(status)}"
        )
    if (status == "rejected") != (reason is not None):
        raise ProtocolError("reason", "reason is required for rejected acks and only for them")
    if reason is not None and reason not in RejectReason.__members__.values():
        raise ProtocolError("reason", f"reason is not a known reject reason, got {_show(reason)}")
    if message_id is not None:
        validate_id(message_id)
    return AckMessage(id=message_id, status=status, reason=reason, ts=now_timestamp())


def parse_ack(payload: bytes | str) -> AckMessage:
    """Parse and validate an ack payload; raise ProtocolError naming the bad field."""
    document = _load_object(payload)
    _check_version(document)
    for field in ("id", "status", "reason", "ts"):
        if field not in document:
            raise ProtocolError(field, f"{field} is required")
    ack = build_ack(document["id"], document["status"], document["reason"])
    parse_timestamp(document["ts"])
    return ack._replace(ts=document["ts"])


def _load_object(payload: bytes | str) -> dict[str, Any]:
    try:
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    except UnicodeEncodeError as err:  # a str holding lone surrogates
        raise ProtocolError("payload", "payload must be UTF-8 JSON", RejectReason.NOT_JSON) from err
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            "payload",
            f"payload must be at most {MAX_MESSAGE_BYTES} bytes, got {len(raw)}",
            RejectReason.OVERSIZE,
        )
    try:
        # Decode strictly first: json.loads(bytes) would also take UTF-16/32, a BOM
        # and lone surrogates, and json.loads takes NaN/Infinity, none of which is JSON.
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError included
        raise ProtocolError("payload", "payload must be UTF-8 JSON", RejectReason.NOT_JSON) from err
    if not isinstance(document, dict):
        raise ProtocolError(
            "payload", f"payload must be a JSON object, got {type(document).__name__}"
        )
    return document


def _check_version(document: dict[str, Any]) -> None:
    version = document.get("v")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ProtocolError("v", f"v must be the integer {PROTOCOL_VERSION}, got {_show(version)}")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            "v",
            f"v must be {PROTOCOL_VERSION}, got {version}: this consumer only speaks v1",
            RejectReason.UNSUPPORTED_VERSION,
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _show(value: Any) -> str:
    """Describe a bad value briefly: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
