"""Publish one click to the user's Mosquitto (MQTT v5, QoS 1, verified TLS) and wait for its ack.

paho's network loop runs in the calling thread (``client.loop(timeout)``), never in a
background thread: Lambda freezes the container between invocations. The connection
is cached per container and checked before each publish.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import os
import socket
import ssl
import tempfile
import time
from typing import NamedTuple
import uuid

import paho.mqtt.client as mqtt

from .protocol import ClickMessage, ProtocolError, ack_topic, click_topic, parse_ack
from .settings import PEM_MARKER, SECRETS, Settings, resolve_secret

_LOGGER = logging.getLogger(__name__)

# With keepalive 60 the broker closes an idle connection after 90 s, before AWS NAT
# gateways silently drop it (350 s), so a thawed container sees the close at once.
KEEPALIVE = 60
# CONNACK codes that mean the credentials were refused: they may have been rotated.
_AUTH_REFUSALS = {0x86, 0x87, 0x8C}


class BridgeError(RuntimeError):
    """Publishing failed; the handler lets it propagate so AWS retries the invocation."""


class ConnectFailed(BridgeError):
    """No usable connection: TCP/TLS failure, CONNACK refusal or timeout.

    ``reason_code`` is the CONNACK reason code value when the broker refused.
    """

    def __init__(self, message: str, reason_code: int | None = None) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class PublishFailed(BridgeError):
    """The broker refused the click (PUBACK reason code >= 0x80) or never acknowledged it."""

    def __init__(self, message: str, reason_code: int | None = None) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class AckTimeout(BridgeError):
    """The consumer did not ack the click within ``IOT_BACKUP_ACK_TIMEOUT`` seconds."""


class _ConnectionLost(Exception):
    """Internal: the connection dropped mid-exchange; the caller reconnects once."""


class PublishResult(NamedTuple):
    """What happened to one click: its topic, the consumer's ack (or None), attempts made."""

    topic: str
    ack: str | None
    reason: str | None
    attempts: int


class _BridgeSSLSocket(ssl.SSLSocket):
    """Bounds the TLS handshake by the connect timeout (paho would use the keepalive)
    and turns on TCP_NODELAY, which paho does not set."""

    def do_handshake(self, block: bool = False) -> None:
        self.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        keepalive_timeout = self.gettimeout()
        self.settimeout(getattr(self.context, "handshake_timeout", keepalive_timeout))
        try:
            super().do_handshake(block)
        finally:
            self.settimeout(keepalive_timeout)


class Connection:
    """One connected paho client plus what the bridge tracks about it."""

    def __init__(self, settings: Settings, identity: tuple) -> None:
        self.identity = identity
        self.connack: mqtt.ReasonCode | None = None
        self.lost = False
        self.pubacks: dict[int, mqtt.ReasonCode] = {}
        self.subacks: dict[int, list[mqtt.ReasonCode]] = {}
        self.subscribed: set[str] = set()
        self.waiting_for: str | None = None
        self.ack = None
        # Drawn per connection, not per import: SnapStart clones module state across containers.
        client_id = f"{settings.client_id or 'iot-backup-lambda'}-{uuid.uuid4().hex[:12]}"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # paho callbacks (VERSION2 signatures), run inside client.loop() in this thread.
    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self.connack = reason_code

    def _on_disconnect(self, _client, _userdata, _flags, _reason_code, _properties) -> None:
        self.lost = True

    def _on_publish(self, _client, _userdata, mid, reason_code, _properties) -> None:
        self.pubacks[mid] = reason_code

    def _on_subscribe(self, _client, _userdata, mid, reason_codes, _properties) -> None:
        self.subacks[mid] = reason_codes

    def _on_message(self, _client, _userdata, message) -> None:
        try:
            ack = parse_ack(message.payload)
        except ProtocolError as err:
            _LOGGER.debug("Ignoring malformed ack on %s: %s", message.topic, err)
            return
        if self.waiting_for is not None and ack.id == self.waiting_for:
            self.ack = ack

    @property
    def alive(self) -> bool:
        """Process pending network events and report whether the connection is still up."""
        if self.lost:
            return False
        self.client.loop(0)
        return not self.lost and self.client.is_connected()

    def pump(self, deadline: float, done: Callable[[], bool]) -> bool:
        """Run the network loop until ``done()`` or ``deadline``; raise _ConnectionLost on a drop."""
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            rc = self.client.loop(min(remaining, 0.5))
            if self.lost or rc not in (mqtt.MQTT_ERR_SUCCESS,):
                self.lost = True
                if done():
                    return True
                raise _ConnectionLost(mqtt.error_string(rc))
        return True

    def close(self) -> None:
        """Disconnect cleanly if possible and release the sockets."""
        try:
            if self.client.is_connected():
                self.client.disconnect()
                self.client.loop(0.05)
        except (OSError, ValueError):
            pass
        finally:
            self.client._reset_sockets()  # noqa: SLF001 - paho has no public close()


_CONNECTION: Connection | None = None


def publish_click(
    click: ClickMessage, settings: Settings, *, ack_timeout: float | None = None
) -> PublishResult:
    """Publish ``click`` with QoS 1 and, if ``ack_timeout`` > 0, wait for its ack.

    ``ack_timeout`` defaults to ``settings.ack_timeout``. Raises ConnectFailed,
    PublishFailed or AckTimeout. A connection lost mid-way is re-opened once and the
    same message (same id) republished; the consumer dedupes by id.
    """
    ack_timeout = settings.ack_timeout if ack_timeout is None else ack_timeout
    topic = click_topic(settings.topic_prefix, click.serial)
    reply_topic = ack_topic(settings.topic_prefix, click.serial) if ack_timeout > 0 else None
    payload = click.to_payload()
    for attempt in (1, 2):
        connection = _connection(settings)
        try:
            ack = _exchange(
                connection, settings, topic, reply_topic, payload, click.id, ack_timeout
            )
        except _ConnectionLost as err:
            _drop_connection()
            if attempt == 2:
                raise PublishFailed(
                    f"connection to the broker lost twice while publishing: {err}"
                ) from None
            _LOGGER.warning(
                "Connection lost while publishing %s (%s); reconnecting once", click.id, err
            )
            continue
        return PublishResult(
            topic, ack.status if ack else None, ack.reason if ack else None, attempt
        )
    raise AssertionError("unreachable")


def _exchange(
    connection: Connection,
    settings: Settings,
    topic: str,
    reply_topic: str | None,
    payload: bytes,
    click_id: str,
    ack_timeout: float,
):
    """Subscribe (once per connection), publish, wait for PUBACK and the ack; return the ack or None."""
    if reply_topic is not None and reply_topic not in connection.subscribed:
        result, mid = connection.client.subscribe(reply_topic, qos=1)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise _ConnectionLost(mqtt.error_string(result))
        deadline = time.monotonic() + settings.publish_timeout
        if not connection.pump(deadline, lambda: mid in connection.subacks):
            raise PublishFailed(f"no SUBACK for {reply_topic} within {settings.publish_timeout}s")
        code = connection.subacks.pop(mid)[0]
        if code.is_failure:
            raise PublishFailed(
                f"the broker refused the subscription to {reply_topic}: {code} (0x{code.value:02X}); "
                "check the ACL lets this user read acks",
                code.value,
            )
        connection.subscribed.add(reply_topic)

    connection.waiting_for, connection.ack = click_id, None
    info = connection.client.publish(topic, payload, qos=1)
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        raise _ConnectionLost(mqtt.error_string(info.rc))
    deadline = time.monotonic() + settings.publish_timeout
    if not connection.pump(deadline, lambda: info.mid in connection.pubacks):
        raise _ConnectionLost(f"no PUBACK within {settings.publish_timeout}s")
    code = connection.pubacks.pop(info.mid)
    if code.is_failure:
        raise PublishFailed(
            f"the broker refused the click on {topic}: {code} (0x{code.value:02X})", code.value
        )
    if reply_topic is None:
        return None
    deadline = time.monotonic() + ack_timeout
    if not connection.pump(deadline, lambda: connection.ack is not None):
        raise AckTimeout(f"no ack for click {click_id} on {reply_topic} within {ack_timeout}s")
    return connection.ack


def _connection(settings: Settings) -> Connection:
    """Return the cached connection if it is alive and for these settings, else open a new one."""
    global _CONNECTION
    identity = _identity(settings)
    if _CONNECTION is not None and (_CONNECTION.identity != identity or not _CONNECTION.alive):
        _drop_connection()
    if _CONNECTION is None:
        _CONNECTION = _open(settings, identity)
    return _CONNECTION


def _identity(settings: Settings) -> tuple:
    """What a connection depends on; secrets enter only as hashes."""
    password = resolve_secret(settings.password, settings) if settings.password else None
    key = resolve_secret(settings.client_key, settings) if settings.client_key else None
    return (
        settings.broker_host,
        settings.broker_port,
        settings.ca_cert,
        settings.username,
        hash(password),
        settings.client_cert,
        hash(key),
        settings.client_id,
        settings.connect_timeout,
    )


def _open(settings: Settings, identity: tuple) -> Connection:
    connection = Connection(settings, identity)
    client = connection.client
    client.connect_timeout = settings.connect_timeout
    client.tls_set_context(_tls_context(settings))
    if settings.username is not None:
        client.username_pw_set(settings.username, resolve_secret(settings.password, settings))
    where = f"{settings.broker_host}:{settings.broker_port}"
    try:
        client.connect(
            settings.broker_host, settings.broker_port, keepalive=KEEPALIVE, clean_start=True
        )
        deadline = time.monotonic() + settings.connect_timeout
        answered = connection.pump(deadline, lambda: connection.connack is not None)
    except ssl.SSLCertVerificationError as err:
        connection.close()
        raise ConnectFailed(f"TLS verification of {where} failed: {err.verify_message}") from None
    except (OSError, ssl.SSLError, _ConnectionLost) as err:
        connection.close()
        # With TLS 1.3 a refused client certificate shows up only as a dropped connection.
        raise ConnectFailed(f"could not connect to {where}: {type(err).__name__}: {err}") from None
    if not answered:
        connection.close()
        raise ConnectFailed(f"no CONNACK from {where} within {settings.connect_timeout}s")
    if connection.connack.is_failure:
        code = connection.connack.value
        connection.close()
        if code in _AUTH_REFUSALS:
            SECRETS.clear()  # the next attempt refetches rotated secrets
        raise ConnectFailed(
            f"{where} refused the connection: {connection.connack} (0x{code:02X})", code
        )
    return connection


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """A client context verifying the broker (CA file/PEM or system store, host name checked)."""
    ca_cert = settings.ca_cert
    if ca_cert is not None and ca_cert.lstrip().startswith(PEM_MARKER):
        context = ssl.create_default_context(cadata=ca_cert)
    else:
        context = ssl.create_default_context(cafile=ca_cert)
    context.sslsocket_class = _BridgeSSLSocket
    context.handshake_timeout = settings.connect_timeout
    if settings.client_cert is not None:
        _load_client_cert(
            context, settings.client_cert, resolve_secret(settings.client_key, settings)
        )
    return context


def _load_client_cert(context: ssl.SSLContext, cert: str, key: str) -> None:
    """load_cert_chain needs files: PEM text goes to a private temp dir, removed at once."""
    if not cert.lstrip().startswith(PEM_MARKER) and not key.lstrip().startswith(PEM_MARKER):
        context.load_cert_chain(cert, key)
        return
    with tempfile.TemporaryDirectory(prefix="iot-backup-") as private_dir:  # mode 0700
        paths = []
        for name, value in (("client.crt", cert), ("client.key", key)):
            if value.lstrip().startswith(PEM_MARKER):
                path = os.path.join(private_dir, name)
                with open(
                    os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w"
                ) as handle:
                    handle.write(value)
                value = path
            paths.append(value)
        context.load_cert_chain(paths[0], paths[1])


def _drop_connection() -> None:
    global _CONNECTION
    connection, _CONNECTION = _CONNECTION, None
    if connection is not None:
        connection.close()


def close() -> None:
    """Close the cached connection (tests, CLI exit); the next publish opens a new one."""
    _drop_connection()
