"""``make demo``: the button's path, for real, on this machine.

Sets up the broker's certificates and passwords in ``broker/`` (idempotent), starts the
project's TLS Mosquitto on free loopback ports, then sends one press of each click type
through the Lambda handler, in both AWS event shapes, and prints each message exactly
as a Home Assistant-side subscriber received it. Exits non-zero if any press is lost.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid

import paho.mqtt.client as mqtt

from broker.runner import LocalMosquitto
from broker.setup_broker import BROKER_DIR, setup_broker
from lambda_bridge import publisher
from lambda_bridge.handler import lambda_handler
from lambda_bridge.protocol import DEFAULT_TOPIC_PREFIX, click_subscription, now_timestamp

RECEIVE_TIMEOUT = 5.0
SERIAL = "G030PM0000000001"


class LambdaContext:
    """The one attribute of AWS's context object the bridge reads."""

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())


def demo_presses() -> list[tuple[str, dict]]:
    """One press per click type: the classic IoT-rule event and the IoT 1-Click event."""
    return [
        (
            "classic IoT button, SINGLE",
            {"serialNumber": SERIAL, "batteryVoltage": "1615mV", "clickType": "SINGLE"},
        ),
        (
            "AWS IoT 1-Click, DOUBLE",
            {
                "deviceInfo": {
                    "deviceId": SERIAL,
                    "type": "button",
                    "remainingLife": 98.7,
                    "attributes": {"projectRegion": "us-east-1"},
                },
                "deviceEvent": {
                    "buttonClicked": {"clickType": "DOUBLE", "reportedTime": now_timestamp()}
                },
                "placementInfo": {
                    "projectName": "backup",
                    "placementName": "desk",
                    "attributes": {},
                    "devices": {"button": SERIAL},
                },
            },
        ),
        (
            "classic IoT button, LONG",
            {"serialNumber": SERIAL, "batteryVoltage": "1590mV", "clickType": "LONG"},
        ),
    ]


class Subscriber:
    """Home Assistant's side of the broker: collects every click message it receives."""

    def __init__(self, broker: LocalMosquitto) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._arrived = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(*broker.credentials("homeassistant"))
        self.client.tls_set(ca_certs=str(broker.ca_cert))
        self.client.on_connect = lambda c, *_: c.subscribe(
            click_subscription(DEFAULT_TOPIC_PREFIX), qos=1
        )
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("localhost", broker.tls_port)
        self.client.loop_start()
        if not self._subscribed.wait(RECEIVE_TIMEOUT):
            raise SystemExit("demo: the subscriber could not subscribe; see the broker log")

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def wait_for(self, count: int) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.messages) >= count, RECEIVE_TIMEOUT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def main() -> int:
    print("== Broker set-up (broker/, idempotent) ==")
    for line in setup_broker(BROKER_DIR).lines():
        print(f"  {line}")
    with LocalMosquitto(BROKER_DIR, BROKER_DIR / "data") as broker:
        print(
            f"\n== Mosquitto on TLS localhost:{broker.tls_port} "
            f"(mutual TLS :{broker.mtls_port}), up in {broker.start_seconds * 1000:.1f} ms =="
        )
        username, password = broker.credentials("lambda")
        os.environ.update(
            {
                "IOT_BACKUP_BROKER_HOST": "localhost",
                "IOT_BACKUP_BROKER_PORT": str(broker.tls_port),
                "IOT_BACKUP_CA_CERT": str(broker.ca_cert),
                "IOT_BACKUP_USERNAME": username,
                "IOT_BACKUP_PASSWORD": password,
            }
        )
        subscriber = Subscriber(broker)
        lost = 0
        try:
            for number, (label, event) in enumerate(demo_presses(), start=1):
                print(f"\n-- Press {number}: {label}")
                print(f"   Lambda event:  {json.dumps(event)}")
                result = lambda_handler(event, LambdaContext())
                print(f"   Handler:       {json.dumps(result)}")
                if subscriber.wait_for(number):
                    message = subscriber.messages[number - 1]
                    print(f"   Received on {message.topic} (QoS {message.qos}):")
                    print(f"                  {message.payload.decode()}")
                else:
                    lost += 1
                    print("   LOST: the subscriber received nothing")
        finally:
            subscriber.close()
            publisher.close()
    print(f"\n{3 - lost} of 3 presses delivered.")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
