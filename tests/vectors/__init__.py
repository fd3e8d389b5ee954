"""Shared protocol v1 test vectors: pure JSON data files plus this tiny loader.

Each file is a JSON list of vectors. A vector has a ``name`` and exactly one of:

* ``payload``: a JSON value, sent as compact UTF-8 JSON (``payload_bytes`` makes it);
* ``payload_text``: raw text sent byte for byte as UTF-8 (non-JSON, ``1.0`` numbers);
* ``payload_base64``: raw bytes (invalid UTF-8, BOMs, UTF-16).

Invalid vectors also carry ``field`` and ``reason`` (what ProtocolError reports), and
``schema_blind`` (why JSON Schema cannot see the fault) when the schema accepts them.
Import with ``from tests.vectors import load_vectors, payload_bytes``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

VECTOR_DIR = Path(__file__).resolve().parent
VECTOR_FILES = ("click-valid", "click-invalid", "ack-valid", "ack-invalid")


def load_vectors(name: str) -> list[dict[str, Any]]:
    """Return the vectors of ``tests/vectors/<name>.json``, e.g. ``load_vectors("click-invalid")``."""
    if name not in VECTOR_FILES:
        raise ValueError(f"name must be one of {', '.join(VECTOR_FILES)}, got {name!r}")
    return json.loads((VECTOR_DIR / f"{name}.json").read_text(encoding="utf-8"))


def payload_bytes(vector: dict[str, Any]) -> bytes:
    """Return the exact bytes a vector puts on the wire."""
    if "payload_base64" in vector:
        return base64.b64decode(vector["payload_base64"])
    if "payload_text" in vector:
        return vector["payload_text"].encode("utf-8")
    return json.dumps(vector["payload"], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
