"""Fixtures of the benchmarks: the test suite's broker and Home Assistant fixtures, reused.

``make test`` does not collect this folder; ``make bench`` runs it with
``python -m pytest benchmarks -s -q``. The deprecation guard stays active here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
from pathlib import Path

import pytest

from tests.conftest import broker_material, mosquitto_broker, mqtt_connect  # noqa: F401
from tests.ha.conftest import (  # noqa: F401
    auto_enable_custom_integrations,
    expected_lingering_timers,
    fail_on_deprecation,
)
from tests.ha.real_broker import lambda_env, real_mqtt  # noqa: F401

# The benchmark tables, printed together after the run, below pytest's and HA's own output.
_REPORT: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--presses", type=int, default=300, help="measured presses per latency series (ha_bench)"
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect ``*_bench.py``: the names keep them out of the test suite's pattern."""
    if file_path.suffix == ".py" and file_path.name.endswith("_bench.py"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_configure(config: pytest.Config) -> None:
    """With ``-s`` HA's INFO log (an entity registered, per entity) would bury the tables."""
    logging.getLogger("homeassistant").setLevel(logging.WARNING)


@pytest.fixture(autouse=True)
def enable_event_loop_debug(event_loop: asyncio.AbstractEventLoop) -> None:
    """Time HA as it runs in production: PHCC turns asyncio debug mode on for tests.

    Debug mode records a traceback for every handle and task and checks each callback's
    duration; it roughly doubled the press -> automation time in this benchmark.
    """
    event_loop.set_debug(False)


@pytest.fixture
def bench_report() -> Callable[[str], None]:
    """``bench_report(line)``: add a line to the tables printed at the end of the run."""
    return _REPORT.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _REPORT:
        terminalreporter.section("iot-backup benchmark: Home Assistant")
        for line in _REPORT:
            terminalreporter.write_line(line)
