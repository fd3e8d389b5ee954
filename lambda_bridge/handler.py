"""AWS Lambda entry point: ``lambda_bridge.handler.lambda_handler``.

parse -> validate -> publish -> return a small JSON result. Failures raise so that
AWS retries the async invocation and the DLQ sees what was lost.
"""

from __future__ import annotations

import logging
from typing import Any

from .events import parse_event
from .protocol import ClickMessage
from .publisher import publish_click
from .settings import load_settings

_LOGGER = logging.getLogger(__name__)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Publish the click in ``event`` and return what happened.

    Returns ``{"id", "serial", "click_type", "topic", "ack", "reason"}``: ``ack`` is
    ``accepted``, ``duplicate``, ``rejected`` or None (ack waiting off), ``reason`` the
    reject reason or None. Raises InvalidEvent or ConfigError (ValueError) before any
    connection, and BridgeError (ConnectFailed, PublishFailed, AckTimeout) after.
    """
    return handle(event, context)[1]


def handle(event: Any, context: Any) -> tuple[ClickMessage, dict[str, Any]]:
    """``lambda_handler``'s work, also returning the published ClickMessage (for the CLI)."""
    click = parse_event(event, context)
    settings = load_settings()
    result = publish_click(click, settings)
    outcome = {
        "id": click.id,
        "serial": click.serial,
        "click_type": click.click_type,
        "topic": result.topic,
        "ack": result.ack,
        "reason": result.reason,
    }
    if result.ack == "rejected":
        # A retry would be rejected again, so return; but make it loud.
        _LOGGER.warning(
            "Click %s from %s was rejected by the consumer: %s",
            click.id,
            click.serial,
            result.reason,
        )
    else:
        _LOGGER.info(
            "Published %s click %s from %s on %s (ack: %s, attempts: %d)",
            click.click_type,
            click.id,
            click.serial,
            result.topic,
            result.ack,
            result.attempts,
        )
    return click, outcome
