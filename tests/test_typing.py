"""The Home Assistant integration passes mypy --strict (quality scale: strict-typing)."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

from homeassistant.const import __version__ as HA_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
# One cache per interpreter and HA: the two `make test` runs share this tree, and a
# cache written for the other one would make every run cold (about 8 s instead of 0.5 s).
CACHE_DIR = REPO_ROOT / ".mypy_cache" / f"{sys.implementation.cache_tag}-ha{HA_VERSION}"


def test_integration_passes_mypy_strict() -> None:
    """mypy --strict over custom_components/iot_backup exits 0."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(CACHE_DIR),
            "custom_components/iot_backup",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"mypy --strict failed:\n{result.stdout}{result.stderr}"
