"""Protocol v1: protocol.py, the JSON Schemas and the shared vectors must agree."""

from __future__ import annotations

from datetime import UTC, datetime
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from jsonschema import Draft202012Validator
import pytest

from lambda_bridge import protocol
from lambda_bridge.protocol import ProtocolError
from tests.vectors import load_vectors, payload_bytes

DOCS = Path(__file__).resolve().parent.parent / "docs"
CLICK_SCHEMA = json.loads((DOCS / "protocol-v1.schema.json").read_text())
ACK_SCHEMA = json.loads((DOCS / "protocol-v1-ack.schema.json").read_text())


def _validator(schema: dict) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    # Format assertion on: "date-time" rejects impossible dates such as 2026-02-30.
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


CLICK_VALIDATOR = _validator(CLICK_SCHEMA)
ACK_VALIDATOR = _validator(ACK_SCHEMA)


def _ids(vectors: list[dict]) -> list[str]:
    return [vector["name"] for vector in vectors]


_NOT_JSON = object()


def _reject_constant(name: str):
    raise ValueError(name)


def _document(raw: bytes):
    """Parse like a strict consumer; _NOT_JSON when the bytes are not UTF-8 JSON."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except ValueError:
        return _NOT_JSON


CLICK_VALID = load_vectors("click-valid")
CLICK_INVALID = load_vectors("click-invalid")
ACK_VALID = load_vectors("ack-valid")
ACK_INVALID = load_vectors("ack-invalid")


def test_format_checker_is_active() -> None:
    """Without rfc3339-validator, jsonschema silently skips date-time checks."""
    assert not CLICK_VALIDATOR.is_valid(
        {
            "v": 1,
            "id": "a",
            "serial": "A",
            "click_type": "single",
            "battery_mv": None,
            "ts": "2026-02-30T00:00:00Z",
            "source": "test",
        }
    )


def test_vector_files_are_well_formed() -> None:
    assert len(CLICK_INVALID) >= 25
    for vectors in (CLICK_VALID, CLICK_INVALID, ACK_VALID, ACK_INVALID):
        for vector in vectors:
            carriers = {"payload", "payload_text", "payload_base64"} & vector.keys()
            assert len(carriers) == 1, vector["name"]
    for vector in CLICK_INVALID + ACK_INVALID:
        assert vector["reason"] in protocol.RejectReason.__members__.values(), vector["name"]
    # Every reason parse_click can produce and every field it checks has a vector.
    assert {v["reason"] for v in CLICK_INVALID} == {
        "oversize",
        "not_json",
        "invalid",
        "unsupported_version",
        "unknown_click_type",
    }
    assert {v["field"] for v in CLICK_INVALID} == {
        "payload",
        "v",
        "id",
        "serial",
        "click_type",
        "battery_mv",
        "ts",
        "source",
    }


@pytest.mark.parametrize("vector", CLICK_VALID, ids=_ids(CLICK_VALID))
def test_valid_click_vector(vector: dict) -> None:
    raw = payload_bytes(vector)
    click = protocol.parse_click(raw)
    for field in protocol.ClickMessage._fields:
        assert getattr(click, field) == vector["payload"][field]
    CLICK_VALIDATOR.validate(vector["payload"])
    # What a producer sends back out parses to the same message and stays schema-valid.
    assert protocol.parse_click(click.to_payload()) == click
    CLICK_VALIDATOR.validate(json.loads(click.to_payload()))
    assert protocol.parse_click(raw.decode()) == click


@pytest.mark.parametrize("vector", CLICK_INVALID, ids=_ids(CLICK_INVALID))
def test_invalid_click_vector(vector: dict) -> None:
    raw = payload_bytes(vector)
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_click(raw)
    assert (caught.value.field, caught.value.reason) == (vector["field"], vector["reason"])
    document = _document(raw)
    if "schema_blind" in vector:
        # Pin the known blind spots, so tightening the schema updates the vectors too.
        assert document is _NOT_JSON or CLICK_VALIDATOR.is_valid(document)
    else:
        assert document is not _NOT_JSON
        assert not CLICK_VALIDATOR.is_valid(document)


def test_invalid_click_keeps_a_readable_id_for_the_ack() -> None:
    vector = next(v for v in CLICK_INVALID if v["name"] == "click_type_triple")
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_click(payload_bytes(vector))
    assert caught.value.message_id == vector["payload"]["id"]


@pytest.mark.parametrize("vector", ACK_VALID, ids=_ids(ACK_VALID))
def test_valid_ack_vector(vector: dict) -> None:
    ack = protocol.parse_ack(payload_bytes(vector))
    for field in protocol.AckMessage._fields:
        assert getattr(ack, field) == vector["payload"][field]
    ACK_VALIDATOR.validate(vector["payload"])
    assert protocol.parse_ack(ack.to_payload()) == ack


@pytest.mark.parametrize("vector", ACK_INVALID, ids=_ids(ACK_INVALID))
def test_invalid_ack_vector(vector: dict) -> None:
    raw = payload_bytes(vector)
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_ack(raw)
    assert (caught.value.field, caught.value.reason) == (vector["field"], vector["reason"])
    document = _document(raw)
    if "schema_blind" in vector:
        assert document is _NOT_JSON or ACK_VALIDATOR.is_valid(document)
    else:
        assert not ACK_VALIDATOR.is_valid(document)


def test_schema_constants_match_protocol() -> None:
    properties = CLICK_SCHEMA["properties"]
    assert properties["click_type"]["enum"] == list(protocol.CLICK_TYPES)
    assert properties["battery_mv"]["maximum"] == protocol.BATTERY_MV_MAX
    assert properties["v"]["const"] == protocol.PROTOCOL_VERSION
    assert ACK_SCHEMA["properties"]["status"]["enum"] == list(protocol.ACK_STATUSES)
    assert ACK_SCHEMA["properties"]["reason"]["enum"] == [*protocol.RejectReason, None]


# Property: on any generated document, protocol.py and the schema give the same verdict.

_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.text(max_size=5),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()),
    st.lists(st.integers(), max_size=2),
)
_edge_text = st.text(alphabet="aZ09_-.:/+# \n\x00é２", max_size=70)
_valid_ts = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
).map(protocol.format_timestamp)
_FIELDS = {
    "v": st.one_of(st.just(1), st.integers(-1, 3), _junk),
    "id": st.one_of(st.from_regex(protocol.ID_PATTERN, fullmatch=True), _edge_text, _junk),
    "serial": st.one_of(st.from_regex(protocol.SERIAL_PATTERN, fullmatch=True), _edge_text, _junk),
    "click_type": st.one_of(
        st.sampled_from(["single", "double", "long", "SINGLE", "triple", ""]), _junk
    ),
    "battery_mv": st.one_of(st.none(), st.integers(-2, 10_002), st.integers(), _junk),
    "ts": st.one_of(
        _valid_ts,
        st.from_regex(protocol.TS_PATTERN, fullmatch=True),
        _valid_ts.map(lambda ts: ts.replace("Z", "+00:00")),
        _edge_text,
        _junk,
    ),
    "source": st.one_of(st.from_regex(protocol.SOURCE_PATTERN, fullmatch=True), _edge_text, _junk),
}


@st.composite
def _click_documents(draw) -> dict:
    document = {}
    for field, strategy in _FIELDS.items():
        if draw(st.integers(0, 12)):  # usually present, sometimes missing
            document[field] = draw(strategy)
    document.update(
        draw(st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=2))
    )
    return document


def _verdicts(document, validator, parse) -> tuple[bool, bool]:
    raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        parse(raw)
        protocol_ok = True
    except ProtocolError as err:
        if err.reason == protocol.RejectReason.OVERSIZE:
            return False, False  # a byte limit the schema cannot see
        protocol_ok = False
    return protocol_ok, validator.is_valid(document)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_click_documents())
def test_protocol_and_schema_agree_on_clicks(document: dict) -> None:
    protocol_ok, schema_ok = _verdicts(document, CLICK_VALIDATOR, protocol.parse_click)
    assert protocol_ok == schema_ok, document


@st.composite
def _ack_documents(draw) -> dict:
    fields = {
        "v": _FIELDS["v"],
        "id": st.one_of(st.none(), _FIELDS["id"]),
        "status": st.one_of(st.sampled_from([*protocol.ACK_STATUSES, "ok"]), _junk),
        "reason": st.one_of(st.none(), st.sampled_from([*protocol.RejectReason, "broken"]), _junk),
        "ts": _FIELDS["ts"],
    }
    return {field: draw(strategy) for field, strategy in fields.items() if draw(st.integers(0, 12))}


@settings(max_examples=400, deadline=None)
@given(_ack_documents())
def test_protocol_and_schema_agree_on_acks(document: dict) -> None:
    protocol_ok, schema_ok = _verdicts(document, ACK_VALIDATOR, protocol.parse_ack)
    assert protocol_ok == schema_ok, document


# Round trips and topics.


@given(
    message_id=st.from_regex(protocol.ID_PATTERN, fullmatch=True),
    serial=st.from_regex(protocol.SERIAL_PATTERN, fullmatch=True),
    click_type=st.sampled_from(protocol.CLICK_TYPES),
    battery_mv=st.none() | st.integers(0, protocol.BATTERY_MV_MAX),
    ts=_valid_ts,
    source=st.from_regex(protocol.SOURCE_PATTERN, fullmatch=True),
)
def test_build_payload_parse_round_trip(
    message_id, serial, click_type, battery_mv, ts, source
) -> None:
    click = protocol.build_click(
        message_id=message_id,
        serial=serial,
        click_type=click_type,
        battery_mv=battery_mv,
        ts=ts,
        source=source,
    )
    payload = click.to_payload()
    assert len(payload) <= protocol.MAX_MESSAGE_BYTES
    assert protocol.parse_click(payload) == click
    CLICK_VALIDATOR.validate(json.loads(payload))
    assert protocol.format_timestamp(click.timestamp) == ts


@pytest.mark.parametrize(
    "status,reason", [("accepted", None), ("duplicate", None), ("rejected", "stale")]
)
def test_ack_round_trip(status: str, reason: str | None) -> None:
    ack = protocol.build_ack("abc-1", status, reason)
    assert protocol.parse_ack(ack.to_payload()) == ack
    ACK_VALIDATOR.validate(json.loads(ack.to_payload()))


def test_topics() -> None:
    assert (
        protocol.click_topic("iot_backup", "G030PM0000000001")
        == "iot_backup/G030PM0000000001/click"
    )
    assert protocol.ack_topic("home/iot", "A-1") == "home/iot/A-1/ack"
    assert protocol.status_topic("iot_backup") == "iot_backup/status"
    assert protocol.click_subscription("iot_backup") == "iot_backup/+/click"
    assert protocol.serial_from_click_topic("iot_backup", "iot_backup/A_1/click") == "A_1"
    assert protocol.serial_from_click_topic("iot_backup", "iot_backup/a/b/click") is None
    assert protocol.serial_from_click_topic("iot_backup", "other/A/click") is None


@pytest.mark.parametrize("serial", ["+", "#", "a/b", "", "a+", "a#", " ", "$SYS", "a\n", None, 3])
def test_topic_builders_reject_bad_serials(serial) -> None:
    for build in (protocol.click_topic, protocol.ack_topic):
        with pytest.raises(ProtocolError) as caught:
            build("iot_backup", serial)
        assert caught.value.field == "serial"


@pytest.mark.parametrize(
    "prefix",
    ["+", "#", "iot/+", "iot/#", "", "/iot", "iot/", "iot//x", "$SYS", "a b", "x" * 65, None],
)
def test_topic_builders_reject_bad_prefixes(prefix) -> None:
    for build in (
        lambda p: protocol.click_topic(p, "A"),
        lambda p: protocol.ack_topic(p, "A"),
        protocol.status_topic,
        protocol.click_subscription,
    ):
        with pytest.raises(ProtocolError) as caught:
            build(prefix)
        assert caught.value.field == "prefix"


def test_protocol_error_is_a_value_error_naming_field_and_value() -> None:
    with pytest.raises(
        ValueError, match=r"click_type must be one of single, double, long, got 'TRIPLE'"
    ):
        protocol.validate_click_type("TRIPLE")


def test_str_payload_with_lone_surrogate_is_not_json() -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_click('{"v":1,"id":"\ud800"}')
    assert caught.value.reason == protocol.RejectReason.NOT_JSON
