"""Lambda events -> ClickMessage: the three event forms, ids, timestamps, and malformed events."""

from __future__ import annotations

from datetime import UTC, datetime
import json

import pytest

from lambda_bridge import protocol
from lambda_bridge.events import InvalidEvent, parse_event
from tests.lambda_support import (
    MALFORMED_EVENTS,
    ONE_CLICK,
    SERIAL,
    lambda_context,
    vector_as_raw_event,
    vector_as_test_event,
)
from tests.vectors import load_vectors

NOW = datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)


def fixed_clock() -> datetime:
    return NOW


BUTTON = {"serialNumber": SERIAL, "batteryVoltage": "1615mV", "clickType": "SINGLE"}


def test_iot_button_with_event_id_from_rule() -> None:
    event = BUTTON | {"eventId": "b7f3c1d2-e4a5-9687-7869-5a4b3c2d1e0f", "timestamp": 1769860800250}
    click = parse_event(event, lambda_context(), now=fixed_clock)
    assert click == protocol.ClickMessage(
        id="b7f3c1d2-e4a5-9687-7869-5a4b3c2d1e0f",
        serial=SERIAL,
        click_type="single",
        battery_mv=1615,
        ts="2026-01-31T12:00:00.250Z",
        source="iot_button",
    )


def test_iot_button_id_from_timestamp_is_deterministic() -> None:
    event = BUTTON | {"timestamp": 1769860800250, "clickType": "LONG", "topic": "iotbutton/G030"}
    first = parse_event(event, lambda_context("req-1"), now=fixed_clock)
    again = parse_event(
        dict(event), lambda_context("req-2"), now=fixed_clock
    )  # an IoT-rule redelivery
    assert first == again
    assert first.id.startswith("btn-") and first.click_type == "long"
    assert first.ts == "2026-01-31T12:00:00.250Z"
    other_press = parse_event(event | {"timestamp": 1769860800251}, None, now=fixed_clock)
    assert other_press.id != first.id


def test_iot_button_without_rule_fields_uses_request_id_and_now() -> None:
    click = parse_event(
        BUTTON, lambda_context("3f2b8c1e-0d4a-4e6b-9a1c-7d5e2f8a9b0c"), now=fixed_clock
    )
    assert click.id == "3f2b8c1e-0d4a-4e6b-9a1c-7d5e2f8a9b0c"
    assert click.ts == "2026-01-31T12:00:00.123Z"
    # A Lambda async retry has the same request id, so the same click id.
    assert (
        parse_event(BUTTON, lambda_context("3f2b8c1e-0d4a-4e6b-9a1c-7d5e2f8a9b0c")).id == click.id
    )


def test_iot_button_battery_is_optional_and_bounded() -> None:
    no_battery = {key: value for key, value in BUTTON.items() if key != "batteryVoltage"}
    assert parse_event(no_battery, None).battery_mv is None
    assert parse_event(BUTTON | {"batteryVoltage": "0mV"}, None).battery_mv == 0
    assert parse_event(BUTTON | {"batteryVoltage": "10000mV"}, None).battery_mv == 10_000


def test_iot_1click() -> None:
    click = parse_event(ONE_CLICK, lambda_context(), now=fixed_clock)
    assert click.serial == SERIAL and click.click_type == "double"
    assert click.battery_mv is None  # remainingLife is a percentage, not in v1
    assert click.ts == "2018-05-04T23:26:33.747Z" and click.source == "iot_1click"
    assert click.id.startswith("1click-")
    assert parse_event(json.loads(json.dumps(ONE_CLICK)), lambda_context("other")).id == click.id


def test_direct_test_event() -> None:
    click = parse_event(
        {"serial": SERIAL, "click_type": "long", "battery_mv": 1500},
        lambda_context("abc-1"),
        now=fixed_clock,
    )
    assert click == protocol.ClickMessage(
        "abc-1", SERIAL, "long", 1500, "2026-01-31T12:00:00.123Z", "test"
    )
    assert (
        parse_event({"serial": SERIAL, "click_type": "single", "id": "my-id"}, None).id == "my-id"
    )


def test_direct_test_event_without_context_gets_a_fresh_uuid() -> None:
    first = parse_event({"serial": SERIAL, "click_type": "single"}, None)
    second = parse_event({"serial": SERIAL, "click_type": "single"}, None)
    assert first.id != second.id and len(first.id) == 32


def test_odd_request_id_is_hashed_into_a_valid_id() -> None:
    click = parse_event(
        {"serial": SERIAL, "click_type": "single"}, lambda_context("weird/id with spaces")
    )
    assert click.id.startswith("req-")
    protocol.validate_id(click.id)


def test_json_string_event_is_accepted() -> None:
    click = parse_event(json.dumps({"serial": SERIAL, "click_type": "double"}), lambda_context())
    assert click.click_type == "double"


def test_every_message_parses_back() -> None:
    for event in (BUTTON, ONE_CLICK, {"serial": SERIAL, "click_type": "single"}):
        click = parse_event(event, lambda_context())
        assert protocol.parse_click(click.to_payload()) == click


@pytest.mark.parametrize(
    ("name", "event", "field"), MALFORMED_EVENTS, ids=[m[0] for m in MALFORMED_EVENTS]
)
def test_malformed_event_names_the_field(name: str, event, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event, lambda_context())
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert (
        str(caught.value).startswith(field)
        or field == "event"
        or "test event fields" in str(caught.value)
    )


def test_error_message_names_field_and_value() -> None:
    with pytest.raises(
        InvalidEvent, match=r"^clickType must be one of SINGLE, DOUBLE, LONG, got 'TRIPLE'$"
    ):
        parse_event(BUTTON | {"clickType": "TRIPLE"}, None)
    with pytest.raises(InvalidEvent, match=r"^serialNumber must be .* got 'a/b'$"):
        parse_event(BUTTON | {"serialNumber": "a/b"}, None)


INVALID_VECTORS = load_vectors("click-invalid")


@pytest.mark.parametrize("vector", INVALID_VECTORS, ids=[v["name"] for v in INVALID_VECTORS])
def test_invalid_vector_is_not_an_event(vector: dict) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(vector_as_raw_event(vector), lambda_context())
    event = vector_as_test_event(vector)
    if event is not None:
        with pytest.raises(InvalidEvent) as caught:
            parse_event(event, lambda_context())
        assert caught.value.field == vector["field"]
