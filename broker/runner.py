"""Run the project's mosquitto.conf on the local ``mosquitto`` binary.

Used by the real-broker pytest fixture, ``make demo`` and ``make bench``. Only
the container paths and the two listener ports of ``broker/mosquitto.conf`` are
rewritten; every other setting is the one that ships.
"""

from __future__ import annotations

from collections.abc import Iterable
import os
from pathlib import Path
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Self

from .setup_broker import BROKER_DIR

PROJECT_CONF = BROKER_DIR / "mosquitto.conf"
CONTAINER_CONFIG_DIR = "/mosquitto/config"
CONTAINER_DATA_DIR = "/mosquitto/data"
CONTAINER_TLS_PORT = 8883
CONTAINER_MTLS_PORT = 8884
BROKER_SYSTEM_USER = "mosquitto"
APT_PACKAGES = "mosquitto mosquitto-clients"


class BrokerStartError(RuntimeError):
    """The mosquitto binary is missing, exited, or never opened its TLS port."""


def render_config(
    conf_text: str,
    config_dir: Path | str,
    data_dir: Path | str,
    tls_port: int,
    mtls_port: int,
    extra_lines: Iterable[str] = (),
    bind_address: str | None = None,
) -> str:
    """Return ``conf_text`` with container paths and listener ports replaced.

    ``/mosquitto/config`` becomes ``config_dir``, ``/mosquitto/data`` becomes
    ``data_dir``, ``listener 8883``/``8884`` become ``tls_port``/``mtls_port``
    (bound to ``bind_address`` if given). ``extra_lines`` are appended at the
    end, so listener-specific lines there apply to the mTLS listener.
    """
    config_dir, data_dir = str(Path(config_dir)), str(Path(data_dir))
    rendered = conf_text.replace(CONTAINER_CONFIG_DIR, config_dir).replace(
        CONTAINER_DATA_DIR, data_dir
    )
    bind_suffix = f" {bind_address}" if bind_address else ""
    for container_port, local_port in (
        (CONTAINER_TLS_PORT, tls_port),
        (CONTAINER_MTLS_PORT, mtls_port),
    ):
        rendered, count = re.subn(
            rf"^listener {container_port}\s*$",
            f"listener {local_port}{bind_suffix}",
            rendered,
            flags=re.MULTILINE,
        )
        if count != 1:
            raise ValueError(
                f"conf_text must contain exactly one 'listener {container_port}' line, got {count}"
            )
    lines = list(extra_lines)
    if lines:
        rendered = (
            rendered.rstrip("\n") + "\n\n# Added by broker.runner\n" + "\n".join(lines) + "\n"
        )
    return rendered


# Below Linux's ephemeral range (32768+), so no outgoing client socket can take the
# port between choosing it and the broker binding it.
_LISTENER_PORTS = range(20000, 32000)


def free_loopback_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free now, chosen outside the ephemeral range."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = random.choice(_LISTENER_PORTS)
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise BrokerStartError(f"no free TCP port on {host} in {_LISTENER_PORTS}")


def _broker_user_ids() -> tuple[int, int] | None:
    """uid/gid mosquitto drops to when started as root, or None if not root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(BROKER_SYSTEM_USER)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


class LocalMosquitto:
    """The project's broker config running on the local binary, on free ports.

    ``config_dir`` holds what ``broker.setup_broker`` made (certs/, secrets/,
    passwd) and an ``acl``; if it has no ``acl`` the project's one is used.
    ``data_dir`` holds the persistence db and survives ``restart()``.
    """

    def __init__(
        self,
        config_dir: Path | str,
        data_dir: Path | str,
        host: str = "127.0.0.1",
        conf_text: str | None = None,
        extra_lines: Iterable[str] = (),
        start_timeout: float = 10.0,
    ) -> None:
        self.config_dir = Path(config_dir)
        self.data_dir = Path(data_dir)
        self.host = host
        self.tls_port = free_loopback_port(host)
        self.mtls_port = free_loopback_port(host)
        self.ca_cert = self.config_dir / "certs" / "ca.crt"
        self.start_timeout = start_timeout
        self._conf_text = conf_text if conf_text is not None else PROJECT_CONF.read_text()
        self._extra_lines = list(extra_lines)
        self._work_dir = Path(tempfile.mkdtemp(prefix="iot-backup-mosquitto-"))
        self.conf_path = self._work_dir / "mosquitto.conf"
        self.log_path = self._work_dir / "mosquitto.log"
        self._process: subprocess.Popen | None = None
        self._log_file = None
        self.start_seconds: float | None = None

    # -- credentials -------------------------------------------------------
    def credentials(self, user: str) -> tuple[str, str]:
        """``(username, password)`` for ``user`` from ``secrets/<user>.password``."""
        path = self.config_dir / "secrets" / f"{user}.password"
        if not path.exists():
            raise KeyError(f"user must have a password file at {path}, got unknown user {user!r}")
        return user, path.read_text().strip()

    def client_cert(self, user: str) -> tuple[Path, Path]:
        """``(crt_path, key_path)`` of ``user``'s client certificate."""
        crt_path = self.config_dir / "certs" / f"{user}.crt"
        key_path = self.config_dir / "certs" / f"{user}.key"
        if not crt_path.exists():
            raise KeyError(f"user must have a client cert at {crt_path}, got unknown user {user!r}")
        return crt_path, key_path

    # -- lifecycle ---------------------------------------------------------
    def _prepare(self) -> None:
        binary = shutil.which("mosquitto") or next(
            (
                path
                for path in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
                if os.path.exists(path)
            ),
            None,
        )
        if binary is None:
            raise BrokerStartError(
                f"the 'mosquitto' binary was not found; install it with: apt-get install {APT_PACKAGES}"
            )
        self._binary = binary
        self.data_dir.mkdir(parents=True, exist_ok=True)
        broker_ids = _broker_user_ids()
        if broker_ids:
            # Started as root, mosquitto drops to its own user before writing the db.
            os.chown(self.data_dir, *broker_ids)
        conf_text = self._conf_text
        # A config dir made by setup_broker --out elsewhere has no acl: use the project's.
        if not (self.config_dir / "acl").exists():
            conf_text = conf_text.replace(f"{CONTAINER_CONFIG_DIR}/acl", str(BROKER_DIR / "acl"))
        rendered = render_config(
            conf_text,
            self.config_dir,
            self.data_dir,
            self.tls_port,
            self.mtls_port,
            extra_lines=self._extra_lines,
            bind_address=self.host,
        )
        self.conf_path.write_text(rendered)

    def start(self) -> Self:
        """Start the broker and return once its TLS port accepts connections."""
        if self._process is not None and self._process.poll() is None:
            return self
        self._prepare()
        # Held open for the broker's lifetime and closed in stop().
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115
        started = time.monotonic()
        # stdout to a file is block-buffered: stdbuf makes the log readable while it runs.
        line_buffered = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
        self._process = subprocess.Popen(
            [*line_buffered, self._binary, "-c", str(self.conf_path)],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_until_accepting(started)
        self.start_seconds = time.monotonic() - started
        return self

    def _wait_until_accepting(self, started: float) -> None:
        while time.monotonic() - started < self.start_timeout:
            if self._process.poll() is not None:
                raise BrokerStartError(
                    f"mosquitto exited with code {self._process.returncode}; log:\n{self.log_text()}"
                )
            try:
                for port in (self.tls_port, self.mtls_port):
                    socket.create_connection((self.host, port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.005)
        self.stop()
        raise BrokerStartError(
            f"mosquitto did not accept on {self.host}:{self.tls_port} within {self.start_timeout}s; "
            f"log:\n{self.log_text()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the broker (it saves its persistence db) and wait for it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self) -> None:
        """Graceful stop then start: same ports, same data dir, queued messages kept."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the broker and remove the work dir (rendered conf and log)."""
        self.stop()
        shutil.rmtree(self._work_dir, ignore_errors=True)

    def log_text(self) -> str:
        """Everything the broker has logged so far (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def is_running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()
