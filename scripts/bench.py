"""``make bench``: latency and import-time figures on the project's TLS broker.

Prints a table; asserts nothing. Every latency series runs in one process against the
same broker and the same receiving ``mosquitto_sub``, so like is compared with like:
- warm: the Lambda handler on its reused connection vs a persistent raw paho publisher;
- cold: the handler on a new TLS connection vs a one-shot ``mosquitto_pub``;
- import: ``lambda_bridge.handler`` vs bare ``paho.mqtt.client`` (``python -X importtime``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import json
import os
from pathlib import Path
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import paho.mqtt.client as mqtt

from broker.runner import LocalMosquitto
from broker.setup_broker import setup_broker
from lambda_bridge import publisher
from lambda_bridge.handler import lambda_handler
from lambda_bridge.protocol import DEFAULT_TOPIC_PREFIX, click_topic, now_timestamp

SERIAL = "G030PM0000000001"
TOPIC = click_topic(DEFAULT_TOPIC_PREFIX, SERIAL)
RECEIVE_TIMEOUT = 5.0
PROJECT_DIR = Path(__file__).resolve().parent.parent


def click_payload(message_id: str) -> bytes:
    """A valid protocol v1 click, as the raw publishers send it."""
    return json.dumps({"v": 1, "id": message_id, "serial": SERIAL, "click_type": "single",
                       "battery_mv": 1615, "ts": now_timestamp(), "source": "test"}).encode()


class Receiver:
    """A persistent ``mosquitto_sub`` (as homeassistant) reporting when each click id arrives."""

    def __init__(self, broker: LocalMosquitto) -> None:
        username, password = broker.credentials("homeassistant")
        self._arrivals: queue.Queue[tuple[str, float]] = queue.Queue()
        self._process = subprocess.Popen(
            ["mosquitto_sub", "-h", "localhost", "-p", str(broker.tls_port),
             "--cafile", str(broker.ca_cert), "-u", username, "-P", password,
             "-V", "mqttv5", "-q", "1", "-t", f"{DEFAULT_TOPIC_PREFIX}/+/click"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._process.stdout:
            arrived = time.perf_counter()
            self._arrivals.put((json.loads(line)["id"], arrived))

    def arrival(self, message_id: str, timeout: float = RECEIVE_TIMEOUT) -> float:
        """Return the perf_counter time at which ``message_id`` arrived; raise queue.Empty."""
        deadline = time.monotonic() + timeout
        while True:
            received_id, arrived = self._arrivals.get(timeout=max(0.0, deadline - time.monotonic()))
            if received_id == message_id:
                return arrived

    def close(self) -> None:
        self._process.terminate()
        self._process.wait()
        self._reader.join()


class RawPublisher:
    """A persistent paho publisher (MQTT v5, QoS1, TLS) as lambda: the warm baseline."""

    def __init__(self, broker: LocalMosquitto) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(*broker.credentials("lambda"))
        self.client.tls_set(ca_certs=str(broker.ca_cert))
        self.client.connect("localhost", broker.tls_port)
        self.client.loop_start()

    def publish(self, message_id: str) -> None:
        self.client.publish(TOPIC, click_payload(message_id), qos=1).wait_for_publish(RECEIVE_TIMEOUT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def mosquitto_pub(broker: LocalMosquitto, message_id: str) -> None:
    """One-shot ``mosquitto_pub``: new process, TLS handshake, CONNECT, PUBLISH QoS1."""
    username, password = broker.credentials("lambda")
    subprocess.run(
        ["mosquitto_pub", "-h", "localhost", "-p", str(broker.tls_port),
         "--cafile", str(broker.ca_cert), "-u", username, "-P", password,
         "-V", "mqttv5", "-q", "1", "-t", TOPIC, "-m", click_payload(message_id)],
        check=True,
    )


def handler_press(message_id: str) -> None:
    """A direct test invocation of the Lambda handler carrying ``message_id``."""
    lambda_handler({"serial": SERIAL, "click_type": "single", "battery_mv": 1615,
                    "id": message_id}, None)


def cold_handler_press(message_id: str) -> None:
    """The handler after its cached connection is dropped, as in a fresh container."""
    publisher.close()
    handler_press(message_id)


def measure(receiver: Receiver, send: Callable[[str], None]) -> float:
    """Milliseconds from calling ``send`` to the receiver getting the message."""
    message_id = f"bench-{uuid.uuid4().hex}"
    started = time.perf_counter()
    send(message_id)
    return (receiver.arrival(message_id) - started) * 1000


def wait_until_subscribed(receiver: Receiver, raw: RawPublisher) -> None:
    """Publish probes until one arrives: mosquitto_sub has then subscribed."""
    for _ in range(200):
        message_id = f"probe-{uuid.uuid4().hex}"
        raw.publish(message_id)
        try:
            receiver.arrival(message_id, timeout=0.05)
            return
        except queue.Empty:
            continue
    raise SystemExit("bench: mosquitto_sub never received a probe")


def import_ms(module: str, runs: int) -> float:
    """Median cumulative import time of ``module`` in a fresh interpreter, in ms.

    Bytecode is cached first (one untimed run), as a built Lambda zip ships it;
    otherwise each run would time the compiler rather than the import.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    command = [sys.executable, "-X", "importtime", "-c", f"import {module}"]
    subprocess.run(command, capture_output=True, check=True, cwd=PROJECT_DIR, env=env)
    samples = []
    for _ in range(runs):
        completed = subprocess.run(command, capture_output=True, text=True, check=True,
                                   cwd=PROJECT_DIR, env=env)
        for line in completed.stderr.splitlines():
            fields = [part.strip() for part in line.split("|")]
            if len(fields) == 3 and fields[2] == module:
                samples.append(int(fields[1]) / 1000)
    return statistics.median(samples)


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def row(label: str, samples: list[float]) -> str:
    return (f"{label:<44}{len(samples):>6}{percentile(samples, 0.5):>10.2f}"
            f"{percentile(samples, 0.99):>10.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__)
    parser.add_argument("--warm", type=int, default=500, help="warm presses per series")
    parser.add_argument("--cold", type=int, default=100, help="cold presses per series")
    parser.add_argument("--import-runs", type=int, default=9)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="iot-backup-bench-") as work:
        config_dir = Path(work) / "broker"
        setup_broker(config_dir)
        os.chmod(work, 0o755)  # the broker, started as root, runs as mosquitto
        with LocalMosquitto(config_dir, Path(work) / "data") as broker:
            username, password = broker.credentials("lambda")
            os.environ.update({
                "IOT_BACKUP_BROKER_HOST": "localhost",
                "IOT_BACKUP_BROKER_PORT": str(broker.tls_port),
                "IOT_BACKUP_CA_CERT": str(broker.ca_cert),
                "IOT_BACKUP_USERNAME": username,
                "IOT_BACKUP_PASSWORD": password,
                "IOT_BACKUP_ACK_TIMEOUT": "0",
            })
            receiver = Receiver(broker)
            raw = RawPublisher(broker)
            try:
                wait_until_subscribed(receiver, raw)
                handler_press("warm-up")
                warm_raw, warm_handler, cold_raw, cold_handler = [], [], [], []
                # Interleaved, so drift on the machine touches every series alike.
                for _ in range(args.warm):
                    warm_raw.append(measure(receiver, raw.publish))
                    warm_handler.append(measure(receiver, handler_press))
                for _ in range(args.cold):
                    cold_raw.append(measure(receiver, lambda mid: mosquitto_pub(broker, mid)))
                    cold_handler.append(measure(receiver, cold_handler_press))
            finally:
                raw.close()
                receiver.close()
                publisher.close()

    paho_import = import_ms("paho.mqtt.client", args.import_runs)
    handler_import = import_ms("lambda_bridge.handler", args.import_runs)
    warm_ratio = percentile(warm_handler, 0.99) / percentile(warm_raw, 0.99)
    print(f"iot-backup benchmark: TLS Mosquitto on loopback, QoS1, MQTT v5, "
          f"receiver mosquitto_sub; {os.cpu_count()} cores")
    print(f"{'series (ms)':<44}{'n':>6}{'p50':>10}{'p99':>10}")
    print(row("warm  raw paho publisher -> sub", warm_raw))
    print(row("warm  Lambda handler -> sub", warm_handler))
    print(f"{'      handler/raw p99 ratio (target <= 1.5)':<60}{warm_ratio:>10.2f}")
    print(row("cold  mosquitto_pub one-shot -> sub", cold_raw))
    print(row("cold  Lambda handler, new TLS conn -> sub", cold_handler))
    print(f"{'      handler cold p50 (target < 20 ms)':<50}{percentile(cold_handler, 0.5):>10.2f}")
    print(f"{'import (ms, median of ' + str(args.import_runs) + ', bytecode cached)':<44}")
    print(f"{'      paho.mqtt.client':<50}{paho_import:>10.2f}")
    print(f"{'      lambda_bridge.handler':<50}{handler_import:>10.2f}")
    print(f"{'      handler/paho ratio (target <= 1.3)':<60}{handler_import / paho_import:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
