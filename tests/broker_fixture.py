"""Real-broker test support: TLS material, a running mosquitto, MQTT v5 clients.

The fixtures (registered in ``tests/conftest.py``):

* ``broker_material`` (session): a folder made once by ``broker.setup_broker``
  for host ``localhost``, plus the project's ``acl``.
* ``mosquitto_broker``: the project's ``broker/mosquitto.conf`` running on free
  ports, in a Docker container when an engine answers, else the local binary.
* ``mqtt_connect``: ``mqtt_connect(user, listener="tls", **overrides)`` opens a
  paho MQTT v5 client over verified TLS and waits for CONNACK or disconnect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import functools
from pathlib import Path
import queue
import shutil
import ssl
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pytest

from broker import setup_broker as broker_setup
from broker.runner import (
    CONTAINER_CONFIG_DIR,
    CONTAINER_DATA_DIR,
    CONTAINER_MTLS_PORT,
    CONTAINER_TLS_PORT,
    PROJECT_CONF,
    LocalMosquitto,
    render_config,
)

CONNECT_TIMEOUT = 5.0
# Every connected client, so fixtures can stop paho threads even when a test fails.
_OPEN_CLIENTS: list[MqttTestClient] = []


@dataclass
class ConnectOutcome:
    """How a connection attempt ended.

    ``connected`` is True only after a successful CONNACK. ``reason_code`` is
    the CONNACK (or server DISCONNECT) reason code value, None if none came.
    ``error`` describes a TLS/socket failure or a connection dropped before
    CONNACK (with TLS 1.3 a refused client cert only shows up that way).
    """

    connected: bool
    session_present: bool = False
    reason_code: int | None = None
    reason_name: str = ""
    error: str | None = None
    client: MqttTestClient | None = None


@dataclass
class MqttTestClient:
    """A connected paho client whose calls wait for the broker's answer."""

    paho: mqtt.Client
    messages: queue.Queue[mqtt.MQTTMessage] = field(default_factory=queue.Queue)
    _acks: dict = field(default_factory=dict)
    _ack_lock: threading.Lock = field(default_factory=threading.Lock)

    def _wait_ack(self, mid: int, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._ack_lock:
                if mid in self._acks:
                    return self._acks.pop(mid)
            time.sleep(0.002)
        raise TimeoutError(f"no acknowledgement for message id {mid} within {timeout}s")

    def _record_ack(self, mid: int, answer) -> None:
        with self._ack_lock:
            self._acks[mid] = answer

    def subscribe(self, topic: str, qos: int = 1, timeout: float = CONNECT_TIMEOUT) -> list[int]:
        """Subscribe and return the SUBACK reason code values (>= 0x80 is a refusal)."""
        result, mid = self.paho.subscribe(topic, qos=qos)
        assert result == mqtt.MQTT_ERR_SUCCESS, f"subscribe to {topic!r} failed locally: {result}"
        return [code.value for code in self._wait_ack(mid, timeout)]

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, timeout: float = CONNECT_TIMEOUT
    ) -> int:
        """Publish and return the PUBACK reason code value (0 for QoS 0)."""
        info = self.paho.publish(topic, payload, qos=qos)
        if qos == 0:
            info.wait_for_publish(timeout)
            return 0
        return self._wait_ack(info.mid, timeout)

    def publish_many(
        self, topic_payloads: list[tuple[str, bytes | str]], qos: int = 1, timeout: float = 30.0
    ) -> list[int]:
        """Pipeline many publishes, then return every PUBACK reason code value."""
        mids = [self.paho.publish(topic, payload, qos=qos).mid for topic, payload in topic_payloads]
        deadline = time.monotonic() + timeout
        return [self._wait_ack(mid, max(deadline - time.monotonic(), 0.001)) for mid in mids]

    def wait_for_messages(
        self, count: int, timeout: float = CONNECT_TIMEOUT
    ) -> list[mqtt.MQTTMessage]:
        """Return up to ``count`` received messages, waiting at most ``timeout`` overall."""
        received: list[mqtt.MQTTMessage] = []
        deadline = time.monotonic() + timeout
        while len(received) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                received.append(self.messages.get(timeout=remaining))
            except queue.Empty:
                break
        return received

    def disconnect(self) -> None:
        """Clean MQTT disconnect (a persistent session stays on the broker)."""
        self.paho.disconnect()
        self.paho.loop_stop()
        if self in _OPEN_CLIENTS:
            _OPEN_CLIENTS.remove(self)


def disconnect_open_clients() -> None:
    """Disconnect every client still open (fixture teardown)."""
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS[-1].disconnect()


def make_tls_context(
    ca_cert: Path | None,
    client_cert: tuple[Path, Path] | None = None,
    minimum_version: ssl.TLSVersion | None = None,
    maximum_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A client TLS context that verifies the server against ``ca_cert`` and its host name."""
    context = ssl.create_default_context(cafile=str(ca_cert) if ca_cert else None)
    if client_cert:
        context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    if minimum_version:
        context.minimum_version = minimum_version
    if maximum_version:
        context.maximum_version = maximum_version
    return context


def connect_client(
    host: str,
    port: int,
    tls_context: ssl.SSLContext,
    username: str | None = None,
    password: str | None = None,
    client_id: str = "",
    clean_start: bool = True,
    session_expiry: int = 0,
    max_inflight: int | None = None,
    timeout: float = CONNECT_TIMEOUT,
) -> ConnectOutcome:
    """Connect a paho MQTT v5 client and wait for CONNACK or disconnect.

    A failed attempt leaves no thread running; a successful one returns a
    ``MqttTestClient`` in ``outcome.client`` with its network loop started.
    """
    paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    paho.tls_set_context(tls_context)
    # paho's background loop sleeps reconnect_delay before noticing loop_stop().
    paho.reconnect_delay_set(min_delay=0.05, max_delay=1)
    if max_inflight is not None:
        paho.max_inflight_messages_set(max_inflight)
    if username is not None:
        paho.username_pw_set(username, password)
    wrapper = MqttTestClient(paho)
    answered = threading.Event()
    outcome = ConnectOutcome(connected=False)

    def on_connect(_client, _userdata, flags, reason_code, _properties):
        outcome.connected = not reason_code.is_failure
        outcome.session_present = bool(flags.session_present)
        outcome.reason_code, outcome.reason_name = reason_code.value, str(reason_code)
        answered.set()

    def on_disconnect(_client, _userdata, _flags, reason_code, _properties):
        if not answered.is_set():
            outcome.reason_code, outcome.reason_name = reason_code.value, str(reason_code)
            outcome.error = f"connection closed before CONNACK: {reason_code}"
            answered.set()

    paho.on_connect, paho.on_disconnect = on_connect, on_disconnect
    paho.on_message = lambda _client, _userdata, message: wrapper.messages.put(message)
    paho.on_publish = lambda _c, _u, mid, reason_code, _p: wrapper._record_ack(
        mid, reason_code.value
    )
    paho.on_subscribe = lambda _c, _u, mid, reason_codes, _p: wrapper._record_ack(mid, reason_codes)
    connect_properties = Properties(PacketTypes.CONNECT)
    connect_properties.SessionExpiryInterval = session_expiry
    try:
        paho.connect(
            host, port, keepalive=30, clean_start=clean_start, properties=connect_properties
        )
    except (OSError, ssl.SSLError) as error:
        outcome.error = f"{type(error).__name__}: {error}"
        return outcome
    paho.loop_start()
    if not answered.wait(timeout):
        outcome.error = f"neither CONNACK nor disconnect within {timeout}s"
    if not outcome.connected:
        # Stop paho from reconnecting after the refusal.
        paho.disconnect()
        paho.loop_stop()
        return outcome
    outcome.client = wrapper
    _OPEN_CLIENTS.append(wrapper)
    return outcome


def connect_as(broker, user: str | None, listener: str = "tls", **overrides) -> ConnectOutcome:
    """Connect to ``broker`` as ``user`` the way production does.

    ``listener="tls"``: username + password from the broker's secrets.
    ``listener="mtls"``: the user's client certificate, no password.
    ``user=None`` means anonymous / no client cert. ``overrides`` may set
    ``username``, ``password``, ``client_cert``, ``tls_context`` and any ``connect_client``
    keyword (``client_id``, ``clean_start``, ``session_expiry``, ``max_inflight``,
    ``timeout``).
    """
    if listener not in ("tls", "mtls"):
        raise ValueError(f"listener must be 'tls' or 'mtls', got {listener!r}")
    port = broker.tls_port if listener == "tls" else broker.mtls_port
    username = password = None
    client_cert = None
    if user is not None and listener == "tls":
        username, password = broker.credentials(user)
    if user is not None and listener == "mtls":
        client_cert = broker.client_cert(user)
    username = overrides.pop("username", username)
    password = overrides.pop("password", password)
    client_cert = overrides.pop("client_cert", client_cert)
    tls_context = overrides.pop("tls_context", None) or make_tls_context(
        broker.ca_cert, client_cert
    )
    return connect_client(broker.host, port, tls_context, username, password, **overrides)


class ContainerMosquitto:
    """The same broker in the eclipse-mosquitto image via testcontainers (needs Docker)."""

    def __init__(
        self, config_dir: Path, data_dir: Path, image: str = "eclipse-mosquitto:2.0.11"
    ) -> None:
        from testcontainers.community.mqtt import MosquittoContainer

        self.config_dir, self.data_dir = Path(config_dir), Path(data_dir)
        self.ca_cert = self.config_dir / "certs" / "ca.crt"
        self._conf_path = self.data_dir.parent / f"{self.data_dir.name}.conf"
        # Rendering with container paths and ports keeps the project config verbatim.
        self._conf_path.write_text(
            render_config(
                PROJECT_CONF.read_text(),
                CONTAINER_CONFIG_DIR,
                CONTAINER_DATA_DIR,
                CONTAINER_TLS_PORT,
                CONTAINER_MTLS_PORT,
            )
        )
        self._container = MosquittoContainer(image)
        self._container.with_exposed_ports(CONTAINER_TLS_PORT, CONTAINER_MTLS_PORT)
        self._container.with_volume_mapping(str(self.config_dir), CONTAINER_CONFIG_DIR, "rw")
        self._container.with_volume_mapping(str(self.data_dir), CONTAINER_DATA_DIR, "rw")

    def start(self) -> ContainerMosquitto:
        """Start the container and read the mapped ports."""
        self._container.start(configfile=str(self._conf_path))
        self._read_ports()
        return self

    def _read_ports(self) -> None:
        self.host = self._container.get_container_host_ip()
        self.tls_port = int(self._container.get_exposed_port(CONTAINER_TLS_PORT))
        self.mtls_port = int(self._container.get_exposed_port(CONTAINER_MTLS_PORT))

    def restart(self) -> None:
        """docker restart sends SIGTERM first, so the broker saves its db."""
        self._container.get_wrapped_container().restart(timeout=10)
        time.sleep(1.0)
        self._read_ports()

    def stop(self) -> None:
        """Remove the container."""
        self._container.stop()

    close = stop

    def log_text(self) -> str:
        """The container's stdout and stderr."""
        stdout, stderr = self._container.get_logs()
        return (stdout + stderr).decode(errors="replace")

    credentials = LocalMosquitto.credentials
    client_cert = LocalMosquitto.client_cert


@functools.cache
def docker_engine_answers() -> bool:
    """True if testcontainers is installed and a Docker engine replies to ping (asked once)."""
    try:
        import docker
        import testcontainers.community.mqtt  # noqa: F401
    except ImportError:
        return False
    try:
        return bool(docker.from_env(timeout=2).ping())
    except (docker.errors.DockerException, OSError):
        return False


def create_broker_material(root: Path) -> Path:
    """Run the real set-up code into ``root/config`` and add the project's acl."""
    config_dir = root / "config"
    broker_setup.setup_broker(config_dir, hosts=["localhost"])
    shutil.copy(broker_setup.BROKER_DIR / "acl", config_dir / "acl")
    return config_dir


@pytest.fixture(scope="session")
def broker_material():
    """Session folder with certs/, secrets/, passwd and acl made by broker.setup_broker."""
    # Not tmp_path: /tmp/pytest-of-root is 0700 and the broker drops to user mosquitto.
    root = Path(tempfile.mkdtemp(prefix="iot-backup-broker-"))
    root.chmod(0o755)
    try:
        yield create_broker_material(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mosquitto_broker(broker_material, request):
    """A running broker with the project config; attributes: host, tls_port,
    mtls_port, ca_cert, credentials(user), client_cert(user), restart(), stop(),
    log_text()."""
    try:
        # pytest-socket (pulled in by the Home Assistant test plugin) blocks sockets.
        request.getfixturevalue("socket_enabled")
    except pytest.FixtureLookupError:
        pass
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=broker_material.parent))
    if docker_engine_answers():
        broker = ContainerMosquitto(broker_material, data_dir).start()
    else:
        broker = LocalMosquitto(broker_material, data_dir).start()
    try:
        yield broker
    finally:
        disconnect_open_clients()
        broker.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def mosquitto_with_config_changes(broker_material, request):
    """Factory ``mosquitto_with_config_changes({old_line: new_line}) -> LocalMosquitto``:
    the project config with whole lines swapped, started on the local binary
    (control experiments: show that a given line is what makes a test pass)."""
    try:
        request.getfixturevalue("socket_enabled")
    except pytest.FixtureLookupError:
        pass
    started: list[LocalMosquitto] = []

    def start(line_changes: dict[str, str]) -> LocalMosquitto:
        conf_text = PROJECT_CONF.read_text()
        for old_line, new_line in line_changes.items():
            if old_line not in conf_text.splitlines():
                raise ValueError(
                    f"line_changes key must be a line of mosquitto.conf, got {old_line!r}"
                )
            conf_text = conf_text.replace(old_line, new_line)
        data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=broker_material.parent))
        broker = LocalMosquitto(broker_material, data_dir, conf_text=conf_text)
        started.append(broker)
        return broker.start()

    yield start
    disconnect_open_clients()
    for broker in started:
        broker.close()
        shutil.rmtree(broker.data_dir, ignore_errors=True)


@pytest.fixture
def mqtt_connect(mosquitto_broker):
    """Factory ``mqtt_connect(user, listener="tls", **overrides) -> ConnectOutcome``
    bound to ``mosquitto_broker``; clients are disconnected at teardown."""

    def connect(user: str | None, listener: str = "tls", **overrides) -> ConnectOutcome:
        return connect_as(mosquitto_broker, user, listener, **overrides)

    return connect
