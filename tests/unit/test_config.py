"""config.load_settings: one TOML file, environment overrides, and clear errors."""

from pathlib import Path

import pytest

from securemail.config import ConfigError, Settings, async_url, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "securemail.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert settings == Settings()
    assert settings.http.port == 8080
    assert settings.database.blob_store == "filesystem"
    assert settings.auth.max_failed_logins == 5


def test_values_come_from_the_toml_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\ndata_dir = "/srv/mail"\nhostname = "mx.polres.co.uk"\n'
        "[http]\nport = 9090\n"
        '[database]\nblob_store = "database"\n'
        "[smtp]\nallow_plain_auth = true\nmax_recipients = 7\n",
    )
    settings = load_settings(path, env={})
    assert settings.server.hostname == "mx.polres.co.uk"
    assert settings.data_path == Path("/srv/mail")
    assert settings.http.port == 9090
    assert settings.http.bind == "127.0.0.1"  # untouched keys keep their default
    assert settings.database.blob_store == "database"
    assert settings.smtp.allow_plain_auth is True
    assert settings.smtp.max_recipients == 7


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\nport = 9090\n")
    env = {"SECUREMAIL_HTTP_PORT": "8181", "SECUREMAIL_SMTP_ALLOW_PLAIN_AUTH": "yes"}
    settings = load_settings(path, env=env)
    assert settings.http.port == 8181
    assert settings.smtp.allow_plain_auth is True


def test_the_process_environment_is_used_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECUREMAIL_HTTP_PORT", "8282")
    assert load_settings().http.port == 8282


@pytest.mark.parametrize(
    ("name", "value"),
    [("SECUREMAIL_HTTP_PORT", "abc"), ("SECUREMAIL_HTTP_PORT", ""),
     ("SECUREMAIL_AUTH_MAX_FAILED_LOGINS", "5.5"), ("SECUREMAIL_SMTP_ALLOW_PLAIN_AUTH", "maybe")],
)  # fmt: skip
def test_a_bad_environment_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={name: value})
    assert name in str(info.value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[http]\nport = "abc"\n', "[http] port"),
        ("[http]\nport = true\n", "[http] port"),
        ('[smtp]\nallow_plain_auth = "perhaps"\n', "[smtp] allow_plain_auth"),
        ("[server]\nhostname = 5\n", "[server] hostname"),
        ("[nosuch]\nkey = 1\n", "unknown section [nosuch]"),
        ("[http]\nprot = 80\n", "unknown setting [http] prot"),
        ("http = 5\n", "[http] must be a table"),
        ("[http\nport = 1\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_with_what_is_wrong(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env={})
    assert words in str(info.value)


def test_a_fractional_number_for_a_whole_number_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[http\] port"):
        load_settings(write(tmp_path, "[http]\nport = 80.9\n"), env={})


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.toml", env={})


def test_the_database_url_defaults_to_sqlite_in_the_data_directory(tmp_path: Path) -> None:
    settings = load_settings(env={"SECUREMAIL_SERVER_DATA_DIR": str(tmp_path / "var")})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'securemail.db'}"


def test_a_plain_postgresql_url_gets_the_async_driver() -> None:
    env = {"SECUREMAIL_DATABASE_URL": "postgresql://mail@db.internal/securemail"}
    assert load_settings(env=env).database_url == (
        "postgresql+asyncpg://mail@db.internal/securemail"
    )
    assert async_url("postgres://h/db") == "postgresql+asyncpg://h/db"
    assert async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert async_url("postgresql+asyncpg://h/db") == "postgresql+asyncpg://h/db"
