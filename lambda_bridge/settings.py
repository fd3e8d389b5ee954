"""Bridge configuration from IOT_BACKUP_* environment variables, and secrets with a TTL cache.

Secrets may be inline, in AWS Secrets Manager or in SSM Parameter Store. boto3 is
imported only inside ``_fetch_secret``, so the click path with inline secrets never
loads it. Secret values never appear in errors, logs or ``repr``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import os
import time
from typing import Any, NamedTuple

from .protocol import DEFAULT_TOPIC_PREFIX, ProtocolError, validate_prefix

ENV_PREFIX = "IOT_BACKUP_"
DEFAULT_PORT = 8883
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_PUBLISH_TIMEOUT = 5.0
DEFAULT_ACK_TIMEOUT = 0.0
DEFAULT_SECRET_TTL = 300.0
PEM_MARKER = "-----BEGIN"


class ConfigError(ValueError):
    """A configuration variable is missing or malformed; ``variable`` names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(message)
        self.variable = variable


class SecretRef(NamedTuple):
    """Where a secret comes from: ``inline`` (value in ``name``), ``secretsmanager`` or ``ssm``."""

    kind: str
    name: str
    variable: str

    def __repr__(self) -> str:
        # An inline secret's value sits in ``name``: never show it.
        shown = "<inline>" if self.kind == "inline" else repr(self.name)
        return f"SecretRef({self.kind}, {shown}, {self.variable})"


class Settings(NamedTuple):
    """Validated bridge configuration; secrets are references, resolved by ``resolve_secret``."""

    broker_host: str
    broker_port: int
    ca_cert: str | None  # a file path or PEM text; None means the system trust store
    username: str | None
    password: SecretRef | None
    client_cert: str | None  # a file path or PEM text
    client_key: SecretRef | None  # inline means a file path or PEM text
    topic_prefix: str
    ack_timeout: float
    connect_timeout: float
    publish_timeout: float
    secret_ttl: float
    client_id: str | None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate IOT_BACKUP_* variables; raise ConfigError naming the bad variable."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(ENV_PREFIX + name)
        return value if value else None

    host = get("BROKER_HOST")
    if host is None:
        raise ConfigError("IOT_BACKUP_BROKER_HOST", "IOT_BACKUP_BROKER_HOST is required")
    if any(char.isspace() for char in host) or "/" in host:
        raise ConfigError(
            "IOT_BACKUP_BROKER_HOST",
            f"IOT_BACKUP_BROKER_HOST must be a host name or IP address, got {host[:40]!r}",
        )
    port = _number(get("BROKER_PORT"), "IOT_BACKUP_BROKER_PORT", DEFAULT_PORT, int, 1, 65535)
    ca_cert = get("CA_CERT")
    if ca_cert is not None and not ca_cert.lstrip().startswith(PEM_MARKER):
        _readable_file(ca_cert, "IOT_BACKUP_CA_CERT")

    username = get("USERNAME")
    password = _secret_ref(env, "PASSWORD")
    if password is not None and username is None:
        raise ConfigError(
            "IOT_BACKUP_USERNAME", "IOT_BACKUP_USERNAME is required when a password is set"
        )
    if username is not None and password is None:
        raise ConfigError(
            "IOT_BACKUP_PASSWORD",
            "IOT_BACKUP_USERNAME needs one of IOT_BACKUP_PASSWORD, IOT_BACKUP_PASSWORD_SECRET "
            "or IOT_BACKUP_PASSWORD_PARAMETER",
        )
    client_cert = get("CLIENT_CERT")
    client_key = _secret_ref(env, "CLIENT_KEY")
    if (client_cert is None) != (client_key is None):
        missing = "IOT_BACKUP_CLIENT_KEY" if client_key is None else "IOT_BACKUP_CLIENT_CERT"
        raise ConfigError(
            missing,
            "IOT_BACKUP_CLIENT_CERT and IOT_BACKUP_CLIENT_KEY (or its _SECRET/_PARAMETER) go together",
        )
    if client_cert is not None and not client_cert.lstrip().startswith(PEM_MARKER):
        _readable_file(client_cert, "IOT_BACKUP_CLIENT_CERT")
    if (
        client_key is not None
        and client_key.kind == "inline"
        and not client_key.name.lstrip().startswith(PEM_MARKER)
    ):
        _readable_file(client_key.name, "IOT_BACKUP_CLIENT_KEY")
    if username is None and client_cert is None:
        raise ConfigError(
            "IOT_BACKUP_USERNAME",
            "set IOT_BACKUP_USERNAME with a password, or IOT_BACKUP_CLIENT_CERT with a key: "
            "the broker allows no anonymous clients",
        )

    prefix = get("TOPIC_PREFIX") or DEFAULT_TOPIC_PREFIX
    try:
        validate_prefix(prefix)
    except ProtocolError as err:
        raise ConfigError(
            "IOT_BACKUP_TOPIC_PREFIX", "IOT_BACKUP_TOPIC_PREFIX: " + str(err)
        ) from err
    client_id = get("CLIENT_ID")
    if client_id is not None and (
        len(client_id) > 40 or not client_id.isascii() or not client_id.isprintable()
    ):
        raise ConfigError(
            "IOT_BACKUP_CLIENT_ID",
            "IOT_BACKUP_CLIENT_ID must be at most 40 printable ASCII characters",
        )
    return Settings(
        broker_host=host,
        broker_port=port,
        ca_cert=ca_cert,
        username=username,
        password=password,
        client_cert=client_cert,
        client_key=client_key,
        topic_prefix=prefix,
        ack_timeout=_number(
            get("ACK_TIMEOUT"), "IOT_BACKUP_ACK_TIMEOUT", DEFAULT_ACK_TIMEOUT, float, 0, 900
        ),
        connect_timeout=_number(
            get("CONNECT_TIMEOUT"),
            "IOT_BACKUP_CONNECT_TIMEOUT",
            DEFAULT_CONNECT_TIMEOUT,
            float,
            0.1,
            900,
        ),
        publish_timeout=_number(
            get("PUBLISH_TIMEOUT"),
            "IOT_BACKUP_PUBLISH_TIMEOUT",
            DEFAULT_PUBLISH_TIMEOUT,
            float,
            0.1,
            900,
        ),
        secret_ttl=_number(
            get("SECRET_TTL"), "IOT_BACKUP_SECRET_TTL", DEFAULT_SECRET_TTL, float, 0, 86_400
        ),
        client_id=client_id,
    )


def _secret_ref(env: Mapping[str, str], name: str) -> SecretRef | None:
    """Exactly one of NAME (inline), NAME_SECRET (Secrets Manager) or NAME_PARAMETER (SSM)."""
    candidates = [
        SecretRef(kind, env[variable], variable)
        for kind, variable in (
            ("inline", f"{ENV_PREFIX}{name}"),
            ("secretsmanager", f"{ENV_PREFIX}{name}_SECRET"),
            ("ssm", f"{ENV_PREFIX}{name}_PARAMETER"),
        )
        if env.get(variable)
    ]
    if len(candidates) > 1:
        raise ConfigError(
            candidates[1].variable,
            f"set only one of {', '.join(ref.variable for ref in candidates)}",
        )
    return candidates[0] if candidates else None


def _number(
    raw: str | None, variable: str, default: float, kind: type, low: float, high: float
) -> Any:
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value != value or not low <= value <= high:
        raise ConfigError(
            variable,
            f"{variable} must be {'an integer' if kind is int else 'a number'} {low}..{high}, got {raw[:20]!r}",
        )
    return value


def _readable_file(path: str, variable: str) -> None:
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ConfigError(
            variable,
            f"{variable} must be a readable PEM file or PEM text starting with {PEM_MARKER}, got path {path!r}",
        )


# Secrets: one cache per container, entries expire after IOT_BACKUP_SECRET_TTL seconds.


class SecretCache:
    """Fetched secrets keyed by (kind, name), each kept for ``ttl`` seconds of ``clock``."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        fetch: Callable[[str, str], str] | None = None,
    ) -> None:
        self._clock = clock
        self._fetch = fetch
        self._entries: dict[tuple[str, str], tuple[str, float]] = {}

    def get(self, ref: SecretRef, ttl: float) -> str:
        """Return the secret ``ref`` points to, fetching it when absent or older than ``ttl``."""
        if ref.kind == "inline":
            return ref.name
        key = (ref.kind, ref.name)
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and now - entry[1] < ttl:
            return entry[0]
        value = (self._fetch or _fetch_secret)(ref.kind, ref.name)
        self._entries[key] = (value, now)
        return value

    def clear(self) -> None:
        """Forget every secret, e.g. after the broker refused them (they may have rotated)."""
        self._entries.clear()


class SecretFetchError(RuntimeError):
    """A secret could not be read from AWS; names the variable and id, never the value."""


SECRETS = SecretCache()


def resolve_secret(ref: SecretRef, settings: Settings, cache: SecretCache | None = None) -> str:
    """Return the value behind ``ref`` from the per-container cache (TTL ``settings.secret_ttl``)."""
    try:
        return (cache or SECRETS).get(ref, settings.secret_ttl)
    except SecretFetchError:
        raise
    except (
        Exception
    ) as err:  # botocore's ClientError, NoCredentialsError, EndpointConnectionError ...
        raise SecretFetchError(
            f"{ref.variable}: could not read {ref.kind} {ref.name!r}: {type(err).__name__}: {err}"
        ) from err


_CLIENTS: dict[str, Any] = {}


def _fetch_secret(kind: str, name: str) -> str:
    """Read a secret from Secrets Manager (``SecretString``) or SSM (``WithDecryption``)."""
    import boto3  # only here: the inline-secret click path must not pay for boto3

    # Keyed by endpoint and region too, so a changed environment gets a new client.
    client_key = f"{kind}|{os.environ.get('AWS_ENDPOINT_URL')}|{os.environ.get('AWS_REGION')}"
    if client_key not in _CLIENTS:
        _CLIENTS[client_key] = boto3.client("secretsmanager" if kind == "secretsmanager" else "ssm")
    client = _CLIENTS[client_key]
    if kind == "secretsmanager":
        value = client.get_secret_value(SecretId=name).get("SecretString")
    else:
        value = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    if not value:
        raise SecretFetchError(f"{kind} {name!r} holds no text value")
    return value
