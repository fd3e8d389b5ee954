"""Shared pytest fixtures. Each block names its owner; append yours below."""

from pathlib import Path
import sys

# `broker` and `tests` must import the same way under plain `pytest` and `python -m pytest`.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

# --- Real mosquitto broker (broker/): TLS material, running broker, MQTT v5 clients.
from tests.broker_fixture import (  # noqa: F401
    broker_material,
    mosquitto_broker,
    mosquitto_with_config_changes,
    mqtt_connect,
)

# --- Lambda bridge: env isolation (autouse), its env for the broker, a spy and a test acker.
from tests.lambda_support import acker, bridge, clean_bridge, spy  # noqa: F401, E402
