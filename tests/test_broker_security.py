"""Who the real broker lets in, over which TLS versions, and what each user may do.

Every test runs the project's broker/mosquitto.conf and broker/acl on a real
mosquitto with real TLS; no mocks.
"""

from __future__ import annotations

import socket
import ssl
import warnings

import pytest

from broker import setup_broker as broker_setup
from tests.broker_fixture import make_tls_context

NOT_AUTHORIZED = 0x87
CLICK_TOPIC = "iot_backup/BUTTON1/click"
ACK_TOPIC = "iot_backup/BUTTON1/ack"


def is_success(reason_code: int) -> bool:
    """MQTT v5: codes below 0x80 succeed (0x10 'no matching subscribers' included)."""
    return reason_code < 0x80


@pytest.fixture(scope="module")
def rogue_material(tmp_path_factory):
    """A second, unrelated CA with its own server and client certs."""
    rogue_dir = tmp_path_factory.mktemp("rogue")
    broker_setup.setup_broker(rogue_dir, hosts=["localhost"])
    return rogue_dir


def legacy_tls_context(ca_cert, maximum_version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client able to speak TLS 1.0-``maximum_version`` (SHA-1 allowed by SECLEVEL=0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = make_tls_context(
            ca_cert, minimum_version=ssl.TLSVersion.TLSv1, maximum_version=maximum_version
        )
    context.set_ciphers("DEFAULT@SECLEVEL=0")
    return context


def tls_handshake_version(host: str, port: int, context: ssl.SSLContext) -> str:
    """Do only the TLS handshake; return the negotiated version or raise ssl.SSLError."""
    with (
        socket.create_connection((host, port), timeout=5) as raw_socket,
        context.wrap_socket(raw_socket, server_hostname=host) as tls_socket,
    ):
        return tls_socket.version()


# --- refused -------------------------------------------------------------


def test_anonymous_client_is_refused(mqtt_connect):
    outcome = mqtt_connect(None)
    assert not outcome.connected
    assert outcome.reason_code == NOT_AUTHORIZED


def test_wrong_password_is_refused(mqtt_connect):
    outcome = mqtt_connect("lambda", password="not-the-password")
    assert not outcome.connected
    # mosquitto 2.0.11 answers 0x87 Not authorized, not 0x86 Bad user name or password.
    assert outcome.reason_code == NOT_AUTHORIZED


def test_client_trusting_another_ca_rejects_the_server(mqtt_connect, rogue_material):
    outcome = mqtt_connect(
        "lambda", tls_context=make_tls_context(rogue_material / "certs" / "ca.crt")
    )
    assert not outcome.connected
    assert "CERTIFICATE_VERIFY_FAILED" in (outcome.error or "")


def test_client_cert_from_rogue_ca_is_refused_on_mtls(
    mqtt_connect, mosquitto_broker, rogue_material
):
    rogue_cert = (rogue_material / "certs" / "lambda.crt", rogue_material / "certs" / "lambda.key")
    outcome = mqtt_connect("lambda", "mtls", client_cert=rogue_cert)
    assert not outcome.connected, mosquitto_broker.log_text()
    assert outcome.error


def test_missing_client_cert_is_refused_on_mtls(mqtt_connect):
    outcome = mqtt_connect(None, "mtls")
    # TLS 1.3: the handshake "succeeds" client-side; the refusal arrives as a disconnect.
    assert not outcome.connected
    assert outcome.error


def test_tls_1_1_is_refused_by_the_broker(mosquitto_broker):
    context = legacy_tls_context(mosquitto_broker.ca_cert, ssl.TLSVersion.TLSv1_1)
    with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"):
        tls_handshake_version(mosquitto_broker.host, mosquitto_broker.tls_port, context)
    # The same legacy-capable client settles on 1.2 when allowed to.
    context = legacy_tls_context(mosquitto_broker.ca_cert, ssl.TLSVersion.TLSv1_2)
    assert (
        tls_handshake_version(mosquitto_broker.host, mosquitto_broker.tls_port, context)
        == "TLSv1.2"
    )


def test_tls_1_1_client_really_speaks_1_1_when_the_broker_allows_it(mosquitto_with_config_changes):
    # Control for the test above: only swapping our tls_version line lets 1.1 in.
    permissive_broker = mosquitto_with_config_changes(
        {"tls_version tlsv1.2": "tls_version tlsv1.1\nciphers DEFAULT:@SECLEVEL=0"}
    )
    context = legacy_tls_context(permissive_broker.ca_cert, ssl.TLSVersion.TLSv1_1)
    assert (
        tls_handshake_version(permissive_broker.host, permissive_broker.tls_port, context)
        == "TLSv1.1"
    )


# --- accepted ------------------------------------------------------------


@pytest.mark.parametrize("tls_version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_are_accepted(mqtt_connect, mosquitto_broker, tls_version):
    context = make_tls_context(
        mosquitto_broker.ca_cert, minimum_version=tls_version, maximum_version=tls_version
    )
    outcome = mqtt_connect("lambda", tls_context=context)
    assert outcome.connected, outcome
    assert (
        outcome.client.paho.socket().version()
        == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[tls_version]
    )


@pytest.mark.parametrize("user", ["lambda", "homeassistant"])
def test_user_connects_with_password_on_tls_listener(mqtt_connect, user):
    outcome = mqtt_connect(user, "tls")
    assert outcome.connected, outcome
    assert outcome.reason_code == 0


@pytest.mark.parametrize("user", ["lambda", "homeassistant"])
def test_user_connects_with_client_cert_on_mtls_listener(mqtt_connect, user):
    outcome = mqtt_connect(user, "mtls")
    assert outcome.connected, outcome


def test_mtls_identity_is_the_cert_cn_not_the_sent_username(mqtt_connect, mosquitto_broker):
    impostor = mqtt_connect("lambda", "mtls", username="homeassistant", password="wrong")
    # use_identity_as_username: no password check on this listener, username := cert CN.
    assert impostor.connected, impostor
    assert impostor.client.publish("homeassistant/status", "online") == NOT_AUTHORIZED
    assert "u'lambda')" in mosquitto_broker.log_text()
    assert "u'homeassistant')" not in mosquitto_broker.log_text()


# --- ACL -----------------------------------------------------------------


@pytest.mark.parametrize(
    "topic", ["iot_backup/BUTTON1/ack", "iot_backup/status", "homeassistant/status", "other/topic"]
)
def test_lambda_publish_outside_acl_gets_not_authorized(mqtt_connect, topic):
    lambda_client = mqtt_connect("lambda").client
    assert lambda_client.publish(topic, "x", qos=1) == NOT_AUTHORIZED


def test_lambda_cannot_read_clicks(mqtt_connect):
    lambda_client = mqtt_connect("lambda").client
    homeassistant_client = mqtt_connect("homeassistant").client
    # mosquitto 2.0.11 grants this SUBACK; the read ACL is applied on delivery instead.
    lambda_client.subscribe("iot_backup/+/click")
    homeassistant_client.subscribe("iot_backup/+/click")
    assert is_success(lambda_client.publish(CLICK_TOPIC, "click-1"))
    assert [m.payload for m in homeassistant_client.wait_for_messages(1)] == [b"click-1"]
    assert lambda_client.wait_for_messages(1, timeout=0.5) == []


def test_homeassistant_reads_clicks_and_writes_acks(mqtt_connect):
    lambda_client = mqtt_connect("lambda").client
    homeassistant_client = mqtt_connect("homeassistant", "mtls").client
    assert homeassistant_client.subscribe("iot_backup/+/click") == [1]
    assert lambda_client.subscribe("iot_backup/+/ack") == [1]
    assert lambda_client.publish(CLICK_TOPIC, '{"clickType": "SINGLE"}') == 0
    click = homeassistant_client.wait_for_messages(1)
    assert [(m.topic, m.payload) for m in click] == [(CLICK_TOPIC, b'{"clickType": "SINGLE"}')]
    assert homeassistant_client.publish(ACK_TOPIC, "ack-1") == 0
    assert [m.payload for m in lambda_client.wait_for_messages(1)] == [b"ack-1"]


@pytest.mark.parametrize(
    "topic", ["iot_backup/status", "homeassistant/status", "homeassistant/event/iot_backup/config"]
)
def test_homeassistant_writes_status_and_discovery(mqtt_connect, topic):
    homeassistant_client = mqtt_connect("homeassistant").client
    assert is_success(homeassistant_client.publish(topic, "online"))


def test_homeassistant_cannot_forge_clicks(mqtt_connect):
    homeassistant_client = mqtt_connect("homeassistant").client
    assert homeassistant_client.publish(CLICK_TOPIC, "forged") == NOT_AUTHORIZED


def test_large_discovery_message_fits_max_packet_size(mqtt_connect):
    homeassistant_client = mqtt_connect("homeassistant").client
    assert homeassistant_client.subscribe("homeassistant/#") == [1]
    discovery_payload = b"x" * 100_000
    assert homeassistant_client.publish("homeassistant/sensor/big/config", discovery_payload) == 0
    assert [len(m.payload) for m in homeassistant_client.wait_for_messages(1)] == [100_000]
