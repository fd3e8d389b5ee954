"""Turn a Lambda event (IoT Button rule, IoT 1-Click, or a direct test) into a ClickMessage.

Everything is validated here, before any connection is made: an invalid event raises
InvalidEvent naming the event field, and nothing is published.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
import hashlib
import json
import re
from typing import Any
import uuid

from .protocol import (
    BATTERY_MV_MAX,
    ClickMessage,
    ProtocolError,
    RejectReason,
    build_click,
    format_timestamp,
    parse_timestamp,
    validate_battery_mv,
    validate_id,
    validate_serial,
)

SOURCE_IOT_BUTTON = "iot_button"
SOURCE_IOT_1CLICK = "iot_1click"
SOURCE_TEST = "test"
AWS_CLICK_TYPES = ("SINGLE", "DOUBLE", "LONG")
TEST_EVENT_FIELDS = ("serial", "click_type", "battery_mv", "id")
# A string event is parsed as JSON; anything this large is not a button press.
MAX_EVENT_TEXT_BYTES = 65_536
# timestamp() in an IoT rule is epoch milliseconds; bound it to years 2000..9999.
_EPOCH_MS_MIN = 946_684_800_000
_EPOCH_MS_MAX = 253_402_300_799_999
_VOLTAGE_PATTERN = re.compile(r"([0-9]{1,5})mV")

Clock = Callable[[], datetime]


class InvalidEvent(ProtocolError):
    """The Lambda event is not a usable button press; ``field`` names the event field."""


def parse_event(event: Any, context: Any = None, *, now: Clock | None = None) -> ClickMessage:
    """Return the ClickMessage for one Lambda ``event``; raise InvalidEvent if it is malformed.

    ``context`` is the Lambda context (only ``aws_request_id`` is read); ``now``
    returns the current aware datetime (tests inject a fixed clock).
    """
    event = _event_object(event)
    clock = now or _utc_now
    if "deviceEvent" in event or "deviceInfo" in event:
        return _from_iot_1click(event)
    if "serialNumber" in event or "clickType" in event:
        return _from_iot_button(event, context, clock)
    if "serial" in event or "click_type" in event:
        return _from_test_event(event, context, clock)
    raise InvalidEvent(
        "event",
        "event must be an IoT Button event (serialNumber, clickType), an IoT 1-Click event "
        "(deviceInfo, deviceEvent) or a test event (serial, click_type), "
        f"got keys {_show_keys(event)}",
    )


def _from_iot_button(event: dict[str, Any], context: Any, clock: Clock) -> ClickMessage:
    serial = _serial(event.get("serialNumber"), "serialNumber")
    aws_click_type = event.get("clickType")
    click_type = _aws_click_type(aws_click_type, "clickType")
    battery_mv = _battery_voltage(event.get("batteryVoltage"))
    timestamp_ms = _epoch_ms(event["timestamp"]) if "timestamp" in event else None
    if "eventId" in event:
        message_id = _renamed(validate_id, event["eventId"], "eventId")
    elif timestamp_ms is not None:
        # IoT rule redeliveries keep timestamp(), so the same press gets the same id.
        message_id = "btn-" + _digest(serial, aws_click_type, str(timestamp_ms))
    else:
        message_id = _request_id(context)
    if timestamp_ms is None:
        ts = format_timestamp(clock())
    else:
        ts = format_timestamp(datetime.fromtimestamp(timestamp_ms / 1000, UTC))
    return _click(message_id, serial, click_type, battery_mv, ts, SOURCE_IOT_BUTTON)


def _from_iot_1click(event: dict[str, Any]) -> ClickMessage:
    device_info = _object(event.get("deviceInfo"), "deviceInfo")
    device_event = _object(event.get("deviceEvent"), "deviceEvent")
    clicked = _object(device_event.get("buttonClicked"), "deviceEvent.buttonClicked")
    serial = _serial(device_info.get("deviceId"), "deviceInfo.deviceId")
    aws_click_type = clicked.get("clickType")
    click_type = _aws_click_type(aws_click_type, "deviceEvent.buttonClicked.clickType")
    reported_time = clicked.get("reportedTime")
    if reported_time is None:
        raise InvalidEvent(
            "deviceEvent.buttonClicked.reportedTime",
            "deviceEvent.buttonClicked.reportedTime is required",
        )
    field = "deviceEvent.buttonClicked.reportedTime"
    _renamed(lambda value: parse_timestamp(value, field), reported_time, field)
    # remainingLife is a percentage, not millivolts: v1 has no field for it.
    message_id = "1click-" + _digest(serial, reported_time, aws_click_type)
    return _click(message_id, serial, click_type, None, reported_time, SOURCE_IOT_1CLICK)


def _from_test_event(event: dict[str, Any], context: Any, clock: Clock) -> ClickMessage:
    # Hand-written events: an unknown key is a typo (or a v1 message), not something to drop.
    unknown = sorted(str(key) for key in event if key not in TEST_EVENT_FIELDS)
    if unknown:
        raise InvalidEvent(
            unknown[0],
            f"test event fields must be among {', '.join(TEST_EVENT_FIELDS)}, got {_show(unknown[0])}",
        )
    serial = _serial(event.get("serial"), "serial")
    click_type = event.get("click_type")
    if click_type is None:
        raise InvalidEvent("click_type", "click_type is required")
    battery_mv = _renamed(validate_battery_mv, event.get("battery_mv"), "battery_mv")
    message_id = _renamed(validate_id, event["id"], "id") if "id" in event else _request_id(context)
    return _click(
        message_id, serial, click_type, battery_mv, format_timestamp(clock()), SOURCE_TEST
    )


# Field readers: each raises InvalidEvent naming the event's own field.


def _event_object(event: Any) -> dict[str, Any]:
    if isinstance(event, (str, bytes, bytearray)):
        raw = event.encode() if isinstance(event, str) else bytes(event)
        if len(raw) > MAX_EVENT_TEXT_BYTES:
            raise InvalidEvent(
                "event",
                f"event text must be at most {MAX_EVENT_TEXT_BYTES} bytes, got {len(raw)}",
                RejectReason.OVERSIZE,
            )
        try:
            event = json.loads(raw.decode("utf-8"))
        except ValueError as err:
            raise InvalidEvent(
                "event", "event text must be a JSON object", RejectReason.NOT_JSON
            ) from err
    if not isinstance(event, dict):
        raise InvalidEvent("event", f"event must be a JSON object, got {type(event).__name__}")
    return event


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        raise InvalidEvent(field, f"{field} is required")
    if not isinstance(value, dict):
        raise InvalidEvent(field, f"{field} must be an object, got {type(value).__name__}")
    return value


def _serial(value: Any, field: str) -> str:
    if value is None:
        raise InvalidEvent(field, f"{field} is required")
    return _renamed(validate_serial, value, field)


def _aws_click_type(value: Any, field: str) -> str:
    if value is None:
        raise InvalidEvent(field, f"{field} is required")
    if value not in AWS_CLICK_TYPES or not isinstance(value, str):
        raise InvalidEvent(
            field,
            f"{field} must be one of {', '.join(AWS_CLICK_TYPES)}, got {_show(value)}",
            RejectReason.UNKNOWN_CLICK_TYPE if isinstance(value, str) else RejectReason.INVALID,
        )
    return value.lower()


def _battery_voltage(value: Any) -> int | None:
    """Parse the IoT Button's ``batteryVoltage`` string, e.g. ``"1615mV"``; absent means None."""
    if value is None:
        return None
    match = _VOLTAGE_PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) > BATTERY_MV_MAX:
        raise InvalidEvent(
            "batteryVoltage",
            f"batteryVoltage must be a string of 0..{BATTERY_MV_MAX} followed by 'mV' "
            f"like '1615mV', got {_show(value)}",
        )
    return int(match.group(1))


def _epoch_ms(value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not _EPOCH_MS_MIN <= value <= _EPOCH_MS_MAX
    ):
        raise InvalidEvent(
            "timestamp",
            "timestamp must be epoch milliseconds (an integer, as from the IoT rule's "
            f"timestamp()) between the years 2000 and 9999, got {_show(value)}",
        )
    return value


def _request_id(context: Any) -> str:
    """The invocation's request id, which Lambda keeps across its own async retries."""
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str) and request_id:
        try:
            return validate_id(request_id)
        except ProtocolError:
            return "req-" + _digest(request_id)
    return uuid.uuid4().hex


def _click(
    message_id: str, serial: str, click_type: str, battery_mv: int | None, ts: str, source: str
) -> ClickMessage:
    try:
        return build_click(
            message_id=message_id,
            serial=serial,
            click_type=click_type,
            battery_mv=battery_mv,
            ts=ts,
            source=source,
        )
    except InvalidEvent:
        raise
    except ProtocolError as err:
        raise InvalidEvent(err.field, str(err), err.reason, err.message_id) from err


def _renamed(validate: Callable[[Any], Any], value: Any, field: str) -> Any:
    """Run a protocol validator but name the event's field in the error."""
    try:
        return validate(value)
    except ProtocolError as err:
        message = str(err)
        if message.startswith(err.field + " "):
            message = field + message[len(err.field) :]
        raise InvalidEvent(field, message, err.reason) from err


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _show_keys(event: dict[str, Any]) -> str:
    keys = sorted(str(key) for key in event)
    shown = ", ".join(_show(key) for key in keys[:8])
    return f"[{shown}{', ...' if len(keys) > 8 else ''}]"
