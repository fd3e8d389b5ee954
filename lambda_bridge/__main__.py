"""Command line: publish a test press through the same handler code the Lambda runs.

    python -m lambda_bridge press --serial G030PM0000000001 --click double [--ack-timeout 5]

Options default to the IOT_BACKUP_* environment variables. Exit codes: 0 published
(and accepted or duplicate, if waiting), 1 broker failure, ack timeout or rejection, 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from types import SimpleNamespace
import uuid

# option dest -> environment variable it overrides
_ENV_OPTIONS = {
    "host": "IOT_BACKUP_BROKER_HOST",
    "port": "IOT_BACKUP_BROKER_PORT",
    "ca": "IOT_BACKUP_CA_CERT",
    "username": "IOT_BACKUP_USERNAME",
    "cert": "IOT_BACKUP_CLIENT_CERT",
    "key": "IOT_BACKUP_CLIENT_KEY",
    "prefix": "IOT_BACKUP_TOPIC_PREFIX",
    "ack_timeout": "IOT_BACKUP_ACK_TIMEOUT",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m lambda_bridge`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m lambda_bridge", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    press = commands.add_parser("press", help="publish one test click (a direct test event)")
    press.add_argument("--serial", required=True, help="button serial, e.g. G030PM0000000001")
    press.add_argument(
        "--click", required=True, choices=("single", "double", "long"), help="click type"
    )
    press.add_argument(
        "--battery-mv", type=int, help="battery voltage in millivolts (default: none)"
    )
    press.add_argument("--id", help="message id (default: a fresh UUID)")
    press.add_argument("--host", help="broker host [IOT_BACKUP_BROKER_HOST]")
    press.add_argument("--port", help="broker TLS port [IOT_BACKUP_BROKER_PORT, 8883]")
    press.add_argument("--ca", help="CA certificate PEM file [IOT_BACKUP_CA_CERT]")
    press.add_argument("--username", help="MQTT user name [IOT_BACKUP_USERNAME]")
    press.add_argument(
        "--password-file", help="file holding the MQTT password [IOT_BACKUP_PASSWORD]"
    )
    press.add_argument("--cert", help="client certificate PEM file [IOT_BACKUP_CLIENT_CERT]")
    press.add_argument("--key", help="client key PEM file [IOT_BACKUP_CLIENT_KEY]")
    press.add_argument("--prefix", help="topic prefix [IOT_BACKUP_TOPIC_PREFIX, iot_backup]")
    press.add_argument(
        "--ack-timeout", help="seconds to wait for the ack, 0 = don't [IOT_BACKUP_ACK_TIMEOUT]"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    args = build_parser().parse_args(argv)
    for dest, variable in _ENV_OPTIONS.items():
        value = getattr(args, dest)
        if value is not None:
            os.environ[variable] = str(value)
    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as handle:
                os.environ["IOT_BACKUP_PASSWORD"] = handle.read().strip()
        except OSError as err:
            return _fail(2, f"--password-file: cannot read {args.password_file}: {err.strerror}")
        for variable in ("IOT_BACKUP_PASSWORD_SECRET", "IOT_BACKUP_PASSWORD_PARAMETER"):
            os.environ.pop(variable, None)

    from .events import InvalidEvent
    from .handler import handle
    from .publisher import BridgeError, close
    from .settings import ConfigError, SecretFetchError

    event = {"serial": args.serial, "click_type": args.click}
    if args.battery_mv is not None:
        event["battery_mv"] = args.battery_mv
    if args.id is not None:
        event["id"] = args.id
    context = SimpleNamespace(aws_request_id=uuid.uuid4().hex)
    try:
        click, outcome = handle(event, context)
    except InvalidEvent as err:
        return _fail(2, f"invalid press: {err}")
    except ConfigError as err:
        return _fail(2, f"configuration: {err}")
    except (BridgeError, SecretFetchError) as err:
        return _fail(1, f"{type(err).__name__}: {err}")
    finally:
        close()
    print(f"published on {outcome['topic']}: {click.to_payload().decode()}")
    if outcome["ack"] is None:
        print("ack: not awaited (--ack-timeout 0)")
    else:
        print(f"ack: {outcome['ack']}" + (f" ({outcome['reason']})" if outcome["reason"] else ""))
    print(json.dumps(outcome))
    return 1 if outcome["ack"] == "rejected" else 0


def _fail(code: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
