"""Typed settings: one TOML file, each key overridable by SECUREMAIL_<SECTION>_<KEY>."""

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The configuration file or an environment override is wrong; the message says how."""


@dataclass(frozen=True)
class ServerSettings:
    data_dir: str = "./var"
    hostname: str = "localhost"
    # `serve` runs on uvloop (libuv: far less overhead per socket event) or plain "asyncio"
    event_loop: str = "uvloop"
    # glibc malloc arenas for `serve` (mallopt M_ARENA_MAX); 0 keeps glibc's default (eight per
    # core): with SQLite's threads that fragments memory (docs/soak.md).
    malloc_arenas: int = 2
    # PROXY protocol (HAProxy send-proxy / send-proxy-v2) on the mail listeners: a comma list
    # of balancer addresses or networks, e.g. "10.0.0.0/8,127.0.0.1"; empty: off. A peer in
    # the list must open with a header (else it is closed); other peers are served as usual.
    proxy_protocol_from: str = ""
    proxy_protocol_timeout_seconds: int = 10  # a trusted peer's header must arrive this fast
    shutdown_grace_seconds: int = 30  # SIGTERM: how long sessions may take to finish


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""  # empty: SQLite at <data_dir>/securemail.db
    blob_store: str = "filesystem"  # or "database"
    busy_timeout_ms: int = 5000
    schema: str = ""  # PostgreSQL search_path; empty: the server's default


@dataclass(frozen=True)
class HttpSettings:
    bind: str = "127.0.0.1"
    port: int = 8080
    session_idle_minutes: int = 30  # a webmail session ends after this long without a request
    require_second_factor: bool = False  # every webmail user must enrol TOTP before reading mail
    max_upload_bytes: int = 10 * 1024 * 1024  # attachments of one compose, all together
    max_request_bytes: int = 12 * 1024 * 1024  # any request body; larger ones get 413
    secure_cookies: bool = False  # mark cookies Secure (set when a TLS proxy fronts webmail)


@dataclass(frozen=True)
class SmtpSettings:
    bind: str = "127.0.0.1"
    port: int = 5025  # MX; standard 25
    submission_port: int = 5587  # STARTTLS submission; standard 587
    submissions_port: int = 5465  # implicit TLS submission; standard 465
    max_message_bytes: int = 25 * 1024 * 1024
    max_recipients: int = 100
    max_line_length: int = 1000  # RFC 5321 section 4.5.3.1.6, CRLF included
    max_commands_before_mail: int = 20
    max_errors: int = 10
    max_connections_per_ip: int = 20
    # authenticated sessions of one user at a time, counted per node (0: no limit)
    max_connections_per_user: int = 10
    idle_timeout_seconds: int = 300
    tls_cert_file: str = ""  # empty: a self-signed certificate made in <data_dir>/tls
    tls_key_file: str = ""
    allow_plain_auth: bool = False  # AUTH without TLS; for loopback tests only
    auth_failure_policy: str = "mark"  # SPF/DKIM/DMARC failure: "mark" or "reject"
    expose_sent_by: bool = False  # write X-Securemail-Sent-By into group sends (all copies)
    group_commit_ms: int = 0  # extra wait before a commit to gather more deliveries (0: none)


@dataclass(frozen=True)
class RelaySettings:
    smarthost: str = ""  # host[:port]; empty: deliver to each domain's MX
    smarthost_username: str = ""
    smarthost_password: str = ""
    helo_name: str = ""  # empty: [server] hostname
    connect_timeout_seconds: int = 30
    max_lifetime_seconds: int = 5 * 24 * 3600
    retry_base_seconds: int = 60
    retry_max_seconds: int = 3600
    lease_seconds: int = 300
    poll_seconds: int = 5
    dkim_selector: str = "securemail"
    port: int = 25  # remote MX port (tests point it at a local sink)


@dataclass(frozen=True)
class DnsSettings:
    nameservers: str = ""  # comma list; empty: the system resolver
    timeout_seconds: int = 5


@dataclass(frozen=True)
class Pop3Settings:
    bind: str = "127.0.0.1"
    port: int = 5110  # STLS; standard 110
    tls_port: int = 5995  # implicit TLS; standard 995
    max_line_length: int = 512  # one command line with CRLF (RFC 2449 4 says 255)
    max_errors: int = 10  # -ERR replies before the server closes the connection
    max_connections_per_ip: int = 20
    # logged-in sessions of one user at a time, all maildrops together, per node (0: no limit)
    max_connections_per_user: int = 10
    idle_timeout_seconds: int = 600  # RFC 1939 3: the autologout timer is at least 10 minutes
    allow_plain_auth: bool = False  # USER/PASS and AUTH without TLS; for loopback tests only


@dataclass(frozen=True)
class ImapSettings:
    bind: str = "127.0.0.1"
    port: int = 5143  # STARTTLS; standard 143
    tls_port: int = 5993  # implicit TLS; standard 993
    max_line_length: int = 64 * 1024  # one command line, literals excluded
    max_literal_bytes: int = 25 * 1024 * 1024  # APPEND; also capped by [limits]
    max_errors: int = 10  # BAD replies before the server says BYE
    max_connections_per_ip: int = 20
    # logged-in sessions of one user at a time, counted per node (0: no limit)
    max_connections_per_user: int = 10
    idle_timeout_seconds: int = 1800  # RFC 9051 5.4: at least 30 minutes, IDLE included
    allow_plain_auth: bool = False  # LOGIN/AUTHENTICATE without TLS; for loopback tests only


@dataclass(frozen=True)
class AuthSettings:
    max_failed_logins: int = 5
    lockout_seconds: int = 900
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    min_password_length: int = 12
    app_password_key_file: str = ""  # empty: <data_dir>/secrets/app-password.key


@dataclass(frozen=True)
class SecuritySettings:
    # The keyring that seals message blobs, TOTP seeds and DKIM keys and names the index's
    # tokens (security/sealing.py). Keep it apart from the data directory and its backups.
    key_file: str = ""  # empty: <data_dir>/secrets/data.keys, made on first start
    keys: str = ""  # the keyring itself, lines joined by ';' (SECUREMAIL_SECURITY_KEYS)


@dataclass(frozen=True)
class LimitsSettings:
    max_message_bytes: int = 25 * 1024 * 1024
    max_folder_name: int = 200
    max_folders_per_mailbox: int = 1000
    max_page_size: int = 500
    max_search_terms: int = 20
    # messages one user may submit in any hour (SMTP, webmail, API; all nodes); 0: no limit
    max_submissions_per_hour: int = 500


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    dns: DnsSettings = field(default_factory=DnsSettings)
    pop3: Pop3Settings = field(default_factory=Pop3Settings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir).expanduser().resolve()

    @property
    def database_url(self) -> str:
        """The SQLAlchemy async URL: the configured one, else SQLite in the data directory."""
        url = self.database.url.strip()
        if not url:
            return f"sqlite+aiosqlite:///{self.data_path / 'securemail.db'}"
        return async_url(url)


def async_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite://` URLs and name the async driver."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url


def _coerce(value: str | Any, target: type, where: str) -> Any:
    if target is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in {"1", "true", "yes", "on"}:
            return True
        if str(value).lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if target is int:
        if isinstance(value, bool | float):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _section(cls: type, name: str, table: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in known:
            raise ConfigError(f"unknown setting [{name}] {key}")
    values: dict[str, Any] = {}
    for key, fld in known.items():
        env_name = f"SECUREMAIL_{name}_{key}".upper()
        target = fld.type if isinstance(fld.type, type) else str
        if env_name in env:
            values[key] = _coerce(env[env_name], target, env_name)
        elif key in table:
            values[key] = _coerce(table[key], target, f"[{name}] {key}")
    return cls(**values)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read `path` (optional) and apply environment overrides; raise ConfigError when wrong."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    sections = {f.name: f for f in dataclasses.fields(Settings)}
    for name in data:
        if name not in sections:
            raise ConfigError(f"unknown section [{name}] in config file")
    built: dict[str, Any] = {}
    for name, fld in sections.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table")
        section_cls = fld.default_factory
        built[name] = _section(section_cls, name, table, env)  # type: ignore[arg-type]
    return Settings(**built)
