"""The verifier's settings (docs/configuration.md): every `serve` option from a flag, a BAOLING_
variable and the TOML file, with flag > environment > file > default; a refused value is one
line naming the setting where it was given; the master key may live outside the data folder,
in a read-only mount as a container's secret does."""

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
import pyotp
import pytest
from click.testing import CliRunner

from baoling.verifier.constants import DEFAULT_WINDOW_STEPS
from baoling.verifier.options import NAMES, config_option, from_command_line, setting_options
from baoling.verifier.service import Verifier
from baoling.verifier.settings import Settings, SettingsError, load

# The suite's own environment must not reach the settings under test.
ENV = {name: value for name, value in os.environ.items() if not name.startswith("BAOLING_")}
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

# Per setting: its flag words, its environment text, its TOML value, and what each loads as
# (never the default, so a source that is ignored shows).
SAMPLES = {
    "data_dir": (["--data-dir", "/srv/b"], "/srv/b", '"/srv/b"', Path("/srv/b")),
    "store_url": (
        ["--store-url", "postgresql+psycopg://db/b"],
        "postgresql+psycopg://db/b",
        '"postgresql+psycopg://db/b"',
        "postgresql+psycopg://db/b",
    ),
    "store_commit_timeout_seconds": (
        ["--store-commit-timeout-seconds", "2.5"],
        "2.5",
        "2.5",
        2.5,
    ),
    "store_pool_size": (["--store-pool-size", "3"], "3", "3", 3),
    "store_max_overflow": (["--store-max-overflow", "0"], "0", "0", 0),
    "master_key_file": (
        ["--master-key-file", "/run/secrets/k"],
        "/run/secrets/k",
        '"/run/secrets/k"',
        Path("/run/secrets/k"),
    ),
    "http_host": (["--host", "0.0.0.0"], "0.0.0.0", '"0.0.0.0"', "0.0.0.0"),
    "http_port": (["--http-port", "9090"], "9090", "9090", 9090),
    "http_body_timeout_seconds": (["--http-body-timeout-seconds", "30"], "30", "30", 30),
    "http_header_timeout_seconds": (["--http-header-timeout-seconds", "20"], "20", "20", 20),
    "radius": (["--radius"], "true", "true", True),
    "radius_config": (
        ["--radius-config", "/etc/r.toml"],
        "/etc/r.toml",
        '"/etc/r.toml"',
        Path("/etc/r.toml"),
    ),
    "window_steps": (["--window", "3"], "3", "3", 3),
    "hotp_window": (["--hotp-window", "20"], "20", "20", 20),
    "lockout_after": (["--lockout-after", "5"], "5", "5", 5),
    "lockout_seconds": (["--lockout-for", "900"], "900", "900", 900),
    "lockout_tz": (
        ["--lockout-tz", "Asia/Shanghai"],
        "Asia/Shanghai",
        '"Asia/Shanghai"',
        "Asia/Shanghai",
    ),
    "drift_learning": (["--no-drift-learning"], "false", "false", False),
    "drift_bound_ppm": (["--drift-bound-ppm", "100"], "100", "100", 100.0),
    "max_window_steps": (["--max-window-steps", "10"], "10", "10", 10),
    "default_realm": (["--default-realm", "corp"], "corp", '"corp"', "corp"),
    "ldap_config": (
        ["--ldap-config", "/etc/baoling/ldap.toml"],
        "/etc/baoling/ldap.toml",
        '"/etc/baoling/ldap.toml"',
        Path("/etc/baoling/ldap.toml"),
    ),
    "events_webhook_url": (
        ["--events-webhook-url", "https://hooks.example.com/b"],
        "https://hooks.example.com/b",
        '"https://hooks.example.com/b"',
        "https://hooks.example.com/b",
    ),
    "events_webhook_secret_file": (
        ["--events-webhook-secret-file", "/run/secrets/hook"],
        "/run/secrets/hook",
        '"/run/secrets/hook"',
        Path("/run/secrets/hook"),
    ),
    "events_webhook_timeout_seconds": (
        ["--events-webhook-timeout-seconds", "2.5"],
        "2.5",
        "2.5",
        2.5,
    ),
    "events_validation_accepted": (["--events-validation-accepted"], "true", "true", True),
    "events_delivery": (["--no-events-delivery"], "false", "false", False),
    "events_retry_seconds": (["--events-retry-seconds", "0.5"], "0.5", "0.5", 0.5),
    "events_max_age_seconds": (["--events-max-age-seconds", "600"], "600", "600", 600.0),
    "events_config": (
        ["--events-config", "/etc/baoling/events.toml"],
        "/etc/baoling/events.toml",
        '"/etc/baoling/events.toml"',
        Path("/etc/baoling/events.toml"),
    ),
    "events_failed_burst": (["--events-failed-burst", "50"], "50", "50", 50),
    "events_failed_burst_seconds": (
        ["--events-failed-burst-seconds", "60"],
        "60",
        "60",
        60.0,
    ),
    "events_drift_far_seconds": (["--events-drift-far-seconds", "45"], "45", "45", 45.0),
    "events_backlog_ready": (["--events-backlog-ready", "500"], "500", "500", 500),
    "events_keep_seconds": (["--events-keep-seconds", "3600"], "3600", "3600", 3600.0),
    "events_audit_verify_seconds": (
        ["--events-audit-verify-seconds", "60"],
        "60",
        "60",
        60.0,
    ),
    "log_format": (["--log-format", "json"], "json", '"json"', "json"),
    "audit_seal_seconds": (["--audit-seal-seconds", "0.5"], "0.5", "0.5", 0.5),
    "audit_anchor_file": (
        ["--audit-anchor-file", "/var/log/anchors.jsonl"],
        "/var/log/anchors.jsonl",
        '"/var/log/anchors.jsonl"',
        Path("/var/log/anchors.jsonl"),
    ),
    "audit_anchor_seconds": (["--audit-anchor-seconds", "0"], "0", "0", 0),
    "privacyidea_allow": (
        ["--privacyidea-allow", "10.0.0.0/8"],
        "10.0.0.0/8",
        '"10.0.0.0/8"',
        "10.0.0.0/8",
    ),
    "privacyidea_no_detail_on_fail": (
        ["--privacyidea-no-detail-on-fail"],
        "true",
        "true",
        True,
    ),
    "rate_limit_user_source_after": (["--rate-limit-user-source-after", "5"], "5", "5", 5),
    "rate_limit_user_after": (["--rate-limit-user-after", "0"], "0", "0", 0),
    "rate_limit_source_after": (["--rate-limit-source-after", "200"], "200", "200", 200),
    "rate_limit_delay_seconds": (["--rate-limit-delay-seconds", "0.5"], "0.5", "0.5", 0.5),
    "rate_limit_max_delay_seconds": (
        ["--rate-limit-max-delay-seconds", "3600"],
        "3600",
        "3600",
        3600.0,
    ),
    "rate_limit_window_seconds": (
        ["--rate-limit-window-seconds", "86400"],
        "86400",
        "86400",
        86400.0,
    ),
    "http_trusted_proxies": (
        ["--http-trusted-proxies", "10.0.0.1, 10.0.1.0/24"],
        "10.0.0.1, 10.0.1.0/24",
        '"10.0.0.1, 10.0.1.0/24"',
        "10.0.0.1, 10.0.1.0/24",
    ),
    "radius_trusted_proxies": (
        ["--radius-trusted-proxies", "192.0.2.10"],
        "192.0.2.10",
        '"192.0.2.10"',
        "192.0.2.10",
    ),
    "console": (["--no-console"], "false", "false", False),
    "console_idle_seconds": (["--console-idle-seconds", "60"], "60", "60", 60),
    "console_session_seconds": (["--console-session-seconds", "3600"], "3600", "3600", 3600),
}


@click.command()
@config_option
@setting_options(NAMES)
def probe(config: Path | None, **flags: object) -> None:
    """The settings a command line loads, as JSON: what `serve` and `python -m
    baoling.verifier` get from the same options."""
    click.echo(from_command_line(flags, config).model_dump_json())


def from_flags(*words: str, env: dict[str, str] | None = None) -> dict:
    result = CliRunner().invoke(probe, list(words), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("BAOLING_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_every_setting_has_a_flag_a_variable_a_key_and_a_sample():
    assert tuple(Settings.model_fields) == NAMES == tuple(SAMPLES)


@pytest.mark.parametrize("name", NAMES)
def test_each_setting_from_a_flag(clean_env, name):
    words, _, _, value = SAMPLES[name]
    loaded = from_flags(*words)
    assert loaded[name] == (str(value) if isinstance(value, Path) else value)


@pytest.mark.parametrize("name", NAMES)
def test_each_setting_from_the_environment(clean_env, name):
    _, text, _, value = SAMPLES[name]
    clean_env.setenv(f"BAOLING_{name.upper()}", text)
    assert getattr(load(), name) == value


@pytest.mark.parametrize("name", NAMES)
def test_each_setting_from_the_file(clean_env, tmp_path, name):
    _, _, toml, value = SAMPLES[name]
    config = tmp_path / "verifier.toml"
    config.write_text(f"{name} = {toml}\n")
    assert getattr(load(config=config), name) == value
    clean_env.setenv("BAOLING_CONFIG", str(config))
    assert getattr(load(), name) == value


def test_defaults(clean_env, tmp_path):
    clean_env.setenv("HOME", str(tmp_path))
    s = load()
    assert (s.data_dir, s.store_url, s.key_file) == (
        tmp_path / ".local/share/baoling",
        None,
        tmp_path / ".local/share/baoling/master.key",
    )
    assert (s.http_host, s.http_port, s.radius, s.radius_config) == ("127.0.0.1", 8080, False, None)
    assert s.http_body_timeout_seconds == 10
    assert s.http_header_timeout_seconds == 10
    assert (s.window_steps, s.lockout_after, s.lockout_seconds, s.lockout_tz) == (
        DEFAULT_WINDOW_STEPS,
        10,
        None,
        "UTC",
    )
    assert s.drift_learning is True


def test_flag_over_environment_over_file_over_default(clean_env, tmp_path):
    config = tmp_path / "verifier.toml"
    config.write_text("http_port = 1001\nwindow_steps = 4\ndrift_learning = false\n")
    clean_env.setenv("BAOLING_HTTP_PORT", "1002")
    clean_env.setenv("BAOLING_DRIFT_LEARNING", "true")
    loaded = from_flags("--config", str(config), "--http-port", "1003")
    assert (loaded["http_port"], loaded["drift_learning"], loaded["window_steps"]) == (
        1003,
        True,
        4,
    )
    assert from_flags("--config", str(config), "--no-drift-learning")["drift_learning"] is False
    assert from_flags("--config", str(config))["http_port"] == 1002
    clean_env.delenv("BAOLING_HTTP_PORT")
    assert from_flags("--config", str(config))["http_port"] == 1001
    assert from_flags()["http_port"] == 8080


def test_config_flag_over_config_variable(clean_env, tmp_path):
    (tmp_path / "a.toml").write_text("lockout_after = 3\n")
    (tmp_path / "b.toml").write_text("lockout_after = 4\n")
    clean_env.setenv("BAOLING_CONFIG", str(tmp_path / "a.toml"))
    assert from_flags()["lockout_after"] == 3
    assert from_flags("--config", str(tmp_path / "b.toml"))["lockout_after"] == 4


def test_an_empty_variable_is_unset(clean_env, tmp_path):
    config = tmp_path / "verifier.toml"
    config.write_text('store_url = "postgresql+psycopg://db/b"\n')
    clean_env.setenv("BAOLING_STORE_URL", "")
    assert load(config=config).store_url == "postgresql+psycopg://db/b"


@pytest.mark.parametrize(
    ("env", "toml", "message"),
    [
        ({"BAOLING_HTTP_PORT": "abc"}, "", "BAOLING_HTTP_PORT: not a valid integer: 'abc'"),
        ({"BAOLING_RADIUS": "maybe"}, "", "BAOLING_RADIUS: not true or false: 'maybe'"),
        ({"BAOLING_LOCKOUT_AFTER": "0"}, "", "BAOLING_LOCKOUT_AFTER: must be at least 1: '0'"),
        ({}, 'http_port = "abc"', "{config}: http_port: not a valid integer: 'abc'"),
        ({}, "http_port = 70000", "{config}: http_port: must be at most 65535: 70000"),
        (
            {},
            "audit_seal_seconds = inf",
            "{config}: audit_seal_seconds: must be at most 3153600000.0: inf",
        ),
        (
            {},
            'lockout_tz = "Mars/Olympus_Mons"',
            "{config}: lockout_tz: not an IANA time zone such as UTC or Asia/Shanghai: "
            "'Mars/Olympus_Mons'",
        ),
        ({}, "htp_port = 8080", "{config}: unknown setting 'htp_port' (did you mean 'http_port'?)"),
        ({}, "colour = 1", "{config}: unknown setting 'colour'"),
        ({}, "http_port = ", "{config}: not valid TOML: Invalid value (at line 1, column 13)"),
        (
            {"BAOLING_DATA_DIR": "{config}"},
            "",
            "BAOLING_DATA_DIR: not a folder: '{config}'",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_setting(clean_env, tmp_path, env, toml, message):
    config = tmp_path / "verifier.toml"
    config.write_text(toml + "\n")
    for name, value in env.items():
        clean_env.setenv(name, value.format(config=config))
    with pytest.raises(SettingsError) as raised:
        load(config=config)
    assert str(raised.value) == message.format(config=config)


def test_a_missing_config_file_is_an_error(clean_env, tmp_path):
    clean_env.setenv("BAOLING_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError) as raised:
        load()
    assert str(raised.value) == (
        f"BAOLING_CONFIG: cannot read {tmp_path / 'nope.toml'}: No such file or directory"
    )


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**ENV, **(env or {})},
    )


@pytest.mark.parametrize(
    ("command", "env", "line"),
    [
        (
            ["baoling.host_tools", "verifier", "serve"],
            {"BAOLING_HTTP_PORT": "abc"},
            "Error: BAOLING_HTTP_PORT: not a valid integer: 'abc'\n",
        ),
        (
            ["baoling.verifier", "--http-port", "abc"],
            {},
            "Error: --http-port: not a valid integer: 'abc'\n",
        ),
        (
            ["baoling.host_tools", "verifier", "serve", "--http-port", "0"],
            {"BAOLING_EVENTS_AUDIT_VERIFY_SECONDS": "1e300"},
            "Error: BAOLING_EVENTS_AUDIT_VERIFY_SECONDS: must be at most 3153600000.0: '1e300'\n",
        ),
        (
            ["baoling.host_tools", "verifier", "serve", "--window", "-1"],
            {},
            "Error: --window: must be at least 0: '-1'\n",
        ),
        (
            ["baoling.host_tools", "verifier", "list"],
            {"BAOLING_LOCKOUT_TZ": "Nowhere/Else"},
            "Error: BAOLING_LOCKOUT_TZ: not an IANA time zone such as UTC or Asia/Shanghai: "
            "'Nowhere/Else'\n",
        ),
    ],
)
def test_the_commands_show_a_bad_value_as_one_line(tmp_path, command, env, line):
    proc = run(command, {"BAOLING_DATA_DIR": str(tmp_path / "data"), **env})
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", line)
    assert not (tmp_path / "data").exists()


@dataclass
class Served:
    process: subprocess.Popen
    lines: list[str]

    @property
    def url(self) -> str:
        return self.lines[-1].split()[-1]


@contextmanager
def served(command: list[str], env: dict[str, str] | None = None) -> Iterator[Served]:
    """A server started with `python -m` COMMAND, up to its "HTTP on" line (printed last);
    stopped with SIGTERM at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        stderr=subprocess.PIPE,
        text=True,
        env={**ENV, **(env or {})},
    )
    try:
        lines: list[str] = []
        while not lines or not lines[-1].startswith("HTTP on "):
            line = process.stderr.readline()
            assert line, "the server stopped:\n" + "".join(lines)
            lines.append(line)
        yield Served(process, lines)
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()


def test_a_served_node_takes_each_source_in_order(tmp_path):
    """File: host, port, key file, lockout; environment: data folder, host, port; flag: port."""
    data, keys = tmp_path / "data", tmp_path / "secrets"
    keys.mkdir()
    with closing(Verifier(data_dir=data, master_key_file=keys / "master.key")) as v:
        v.enrol("alice", base64.b32decode(SECRET))
        api_key = v.create_api_key("test", ["validate"])
    config = tmp_path / "verifier.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "unused"}"\n'
        f'master_key_file = "{keys / "master.key"}"\n'
        'http_host = "localhost"\n'
        "http_port = 1\n"
        "lockout_after = 2\n"
    )
    env = {
        "BAOLING_DATA_DIR": str(data),
        "BAOLING_HTTP_HOST": "127.0.0.1",
        "BAOLING_HTTP_PORT": "2",
    }
    command = [
        "baoling.host_tools",
        "verifier",
        "--config",
        str(config),
        "serve",
        "--http-port",
        "0",
    ]
    with served(command, env) as server:
        assert server.url.startswith("http://127.0.0.1:")
        wrong = f"{(int(pyotp.TOTP(SECRET).now()) + 1) % 1_000_000:06d}"
        for _ in range(2):
            answer = httpx.post(
                f"{server.url}/v1/validate",
                json={"token": "alice", "code": wrong},
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=30,
            )
            assert answer.json()["result"] == "reject"
    with closing(Verifier(data_dir=data, master_key_file=keys / "master.key")) as v:
        info = v.show("alice")
    assert (info["fail_count"], info["locked_until"] is not None) == (2, True)
    assert not (data / "master.key").exists()
    assert not (tmp_path / "unused").exists()


def test_python_m_baoling_verifier_serves_from_the_environment_alone(tmp_path):
    radius = tmp_path / "radius.toml"
    radius.write_text('port = 0\n[clients."127.0.0.1"]\nsecret = "s3cret"\n')
    env = {
        "BAOLING_DATA_DIR": str(tmp_path / "data"),
        "BAOLING_HTTP_PORT": "0",
        "BAOLING_RADIUS": "true",
        "BAOLING_RADIUS_CONFIG": str(radius),
    }
    with served(["baoling.verifier"], env) as server:
        assert server.lines[-2].startswith("RADIUS on udp 127.0.0.1:")
        assert httpx.get(f"{server.url}/healthz", timeout=30).json() == {"status": "ok"}
    assert (tmp_path / "data/verifier.sqlite3").exists()


def test_the_master_key_may_be_a_read_only_mounted_secret(tmp_path):
    """As a container's secret: the key file in a folder mounted read-only (a private mount
    namespace), the data folder elsewhere."""
    secrets, data = tmp_path / "secrets", tmp_path / "data"
    secrets.mkdir()
    with closing(Verifier(data_dir=data, master_key_file=secrets / "master.key")) as v:
        v.enrol("alice", base64.b32decode(SECRET))
    verifier = f"{sys.executable} -m baoling.host_tools verifier"
    script = (
        f"mount --bind {secrets} {secrets} && mount -o remount,bind,ro {secrets} && "
        f"{verifier} list --json && {verifier} rotate-key --force"
    )
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **ENV,
            "BAOLING_DATA_DIR": str(data),
            "BAOLING_MASTER_KEY_FILE": str(secrets / "master.key"),
        },
    )
    assert [t["token"] for t in json.loads(proc.stdout)] == ["alice"]
    assert (proc.returncode, proc.stderr) == (
        1,
        f"Error: cannot write master key file {secrets / 'master.key.new'}: "
        "Read-only file system\n",
    )
    assert sorted(p.name for p in secrets.iterdir()) == ["master.key", "master.key.lock"]


def test_a_python_caller_s_bad_argument_names_the_parameter(clean_env, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(SettingsError) as raised:
        Verifier(data_dir=not_a_folder)
    assert str(raised.value) == f"data_dir: not a folder: '{not_a_folder}'"
