"""The deploy files (deploy/) checked against the code they start, as far as this machine can.

Docker has no engine here, so the image is never built and no container runs. What the files
say is run instead, with the paths they name moved into a temporary folder: the image's command
and health check, the compose file's migrate step and its two nodes on a real PostgreSQL, and
the systemd unit's command. The servers cannot write the folder holding the master key, as in
a container (/run/secrets) and under systemd (the credentials folder). systemd-analyze checks
the unit.
"""

import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from baoling.verifier.options import CONFIG_ENV, env_var
from baoling.verifier.settings import Settings
from baoling.verifier.store import SCHEMA_VERSION, Store
from tests.fixtures_postgres import PostgresServer

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent
SYSTEMD_ANALYZE = "systemd-analyze"  # scripts/bootstrap.sh installs it


def setting_variables() -> set[str]:
    """Every environment variable the verifier reads: one per field of its settings model, and
    the one naming the TOML file."""
    return {env_var(name) for name in Settings.model_fields} | {CONFIG_ENV}


# ------------------------------------------------------------------------------ Dockerfile


@dataclass(frozen=True)
class Instruction:
    name: str
    args: str


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, one list per stage (continuation lines joined)."""
    stages: list[list[Instruction]] = []
    logical = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        logical += line.rstrip()
        if logical.endswith("\\"):
            logical = logical[:-1] + " "
            continue
        if logical.strip():
            name, _, args = logical.strip().partition(" ")
            if name.upper() == "FROM":
                stages.append([])
            stages[-1].append(Instruction(name.upper(), args.strip()))
        logical = ""
    return stages


def image() -> list[Instruction]:
    """The final stage: what the image that runs is made of."""
    return dockerfile_stages()[-1]


def image_args(name: str) -> list[str]:
    return [i.args for i in image() if i.name == name]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in image_args("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def exec_form(args: str) -> list[str]:
    """A JSON-array command (exec form: no shell in between, signals reach the process)."""
    argv = json.loads(args)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), args
    return argv


def image_command() -> list[str]:
    return exec_form(image_args("CMD")[-1])


def health_check() -> list[str]:
    (args,) = image_args("HEALTHCHECK")
    options, _, command = args.partition(" CMD ")
    assert all(option.startswith("--") for option in options.split()), args
    return exec_form(command)


def test_image_runs_as_a_fixed_user_that_is_not_root():
    (user,) = image_args("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, user
    assert gid.isdigit() and int(gid) != 0, user
    # The key file must be owned by this uid: docs/operations.md says which one to chown to.
    docs = (REPO / "docs" / "operations.md").read_text()
    assert set(re.findall(r"(?:chown|install -d -o) (\d+)", docs)) == {uid}


def test_image_keeps_its_data_in_a_volume():
    (volumes,) = image_args("VOLUME")
    assert exec_form(volumes) == [image_env()["BAOLING_DATA_DIR"]]


def test_image_reads_the_master_key_from_a_mounted_secret():
    assert image_env()["BAOLING_MASTER_KEY_FILE"] == "/run/secrets/baoling_master_key"


def test_image_health_check_asks_healthz():
    assert any("/healthz" in arg for arg in health_check())


def test_build_context_holds_what_the_wheel_is_built_from():
    """.dockerignore leaves out everything but the files the wheel needs: the folders
    pyproject.toml maps into the baoling package, its readme and pyproject.toml itself."""
    patterns = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    kept = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    folders = set(project["tool"]["setuptools"]["package-dir"].values())
    assert kept == folders | {"pyproject.toml", project["project"]["readme"]}


# --------------------------------------------------------------------------- compose file


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def verifier_nodes() -> dict[str, dict]:
    """The services that run the image's own command: the long-running verifier nodes."""
    services = compose()["services"]
    return {
        name: s
        for name, s in services.items()
        if s.get("image") == "baoling-verifier" and "command" not in s
    }


def test_compose_runs_two_nodes_on_one_postgresql_after_the_migrate_step():
    services = compose()["services"]
    nodes = verifier_nodes()
    assert len(nodes) == 2
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["migrate"]["command"] == ["baoling", "verifier", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for node in nodes.values():
        assert node["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
        assert "healthcheck" not in node  # the image's HEALTHCHECK applies
        assert node["pull_policy"] == "never"
    published = [port for node in nodes.values() for port in node["ports"]]
    assert len(set(published)) == 2
    assert all(port.startswith("127.0.0.1:") and port.endswith(":8080") for port in published)


def test_compose_nodes_share_one_database_and_one_master_key():
    spec = compose()
    postgres = spec["services"]["postgres"]["environment"]
    migrate = spec["services"]["migrate"]
    for name, node in [*verifier_nodes().items(), ("migrate", migrate)]:
        url = node["environment"]["BAOLING_STORE_URL"]
        match = re.fullmatch(r"postgresql\+psycopg://(\w+):([^@]+)@(\w+):5432/(\w+)", url)
        assert match, (name, url)
        assert match[1] == postgres["POSTGRES_USER"] and match[4] == postgres["POSTGRES_DB"]
        assert match[2] == postgres["POSTGRES_PASSWORD"]
        assert match[3] == "postgres"
    assert [node["secrets"] for node in verifier_nodes().values()] == [["baoling_master_key"]] * 2
    assert migrate["secrets"] == []  # it changes the schema only; the test below runs it so
    assert spec["secrets"] == {"baoling_master_key": {"file": "./master.key"}}
    # /run/secrets/<secret name> is where compose mounts it: the name the image expects.
    assert image_env()["BAOLING_MASTER_KEY_FILE"] == "/run/secrets/baoling_master_key"
    assert {"master.key", ".env"} <= set((DEPLOY / ".gitignore").read_text().split())


def test_compose_volumes_are_declared():
    spec = compose()
    used = {
        volume.split(":")[0]
        for service in spec["services"].values()
        for volume in service.get("volumes", [])
    }
    assert used == set(spec["volumes"])


def test_deploy_files_name_only_settings_that_exist():
    known = setting_variables()
    for path in [*sorted(DEPLOY.iterdir()), REPO / "docs" / "operations.md"]:
        named = set(re.findall(r"\bBAOLING_[A-Z0-9_]+", path.read_text()))
        assert named <= known, f"{path.name} names {sorted(named - known)}"


# ---------------------------------------------------------------------------- systemd unit


def unit_text() -> str:
    return (DEPLOY / "baoling-verifier.service").read_text()


def unit_values(key: str) -> list[str]:
    return [
        line.partition("=")[2] for line in unit_text().splitlines() if line.startswith(f"{key}=")
    ]


def installed_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this venv's baoling instead of /opt/baoling's.

    systemd-analyze verify refuses a unit whose program does not exist, and no test installs
    into /opt; the rest of the unit is checked as it is shipped.
    """
    (exec_start,) = unit_values("ExecStart")
    program = shlex.split(exec_start)[0]
    assert program == "/opt/baoling/bin/baoling"
    unit = tmp_path / "baoling-verifier.service"
    unit.write_text(unit_text().replace(program, str(VENV_BIN / "baoling")))
    return unit


def test_unit_passes_systemd_analyze_verify(tmp_path: Path):
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(installed_unit(tmp_path))],
        capture_output=True,
        text=True,
    )
    # An unknown or misspelt option is only a warning: our unit's output must be empty too.
    # systemd-analyze also loads the machine's own units and warns about theirs (Debian's
    # freeradius.service, which the RADIUS tests install, uses MemoryLimit=); those are not ours.
    ours = [line for line in proc.stderr.splitlines() if not line.startswith("/lib/systemd/")]
    assert (proc.returncode, proc.stdout, ours) == (0, "", [])


def test_unit_is_hardened(tmp_path: Path):
    """systemd's own exposure score (0 = fully confined, 10 = nothing) stays under 2."""
    proc = subprocess.run(
        [
            SYSTEMD_ANALYZE,
            "security",
            "--offline=yes",
            "--threshold=20",
            "--no-pager",
            str(installed_unit(tmp_path)),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert unit_values("DynamicUser") == ["yes"]
    assert unit_values("StateDirectory") == ["baoling"]
    assert unit_values("LoadCredential") == ["master.key:/etc/baoling/master.key"]


# ------------------------------------------------------------------ what the files start


class Layout:
    """Temporary stand-ins for the folders a deploy file names.

    The key's folder is read-only for the server, as /run/secrets and systemd's credentials
    folder are: it can read the key, not write beside it.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.secrets = base / "secrets"
        self.secrets.mkdir()
        self.key = self.secrets / "baoling_master_key"
        self.key.write_text(secrets.token_hex(32) + "\n")  # the format docs/operations.md gives
        self.key.chmod(0o600)
        self.secrets.chmod(0o555)

    def data_dir(self, name: str) -> Path:
        path = self.base / name
        path.mkdir(mode=0o700)
        return path

    def uses_the_mounted_key(self, data_dir: Path) -> bool:
        """The server kept its SQLite store in the data folder and made no key of its own there
        (the file names docs/operations.md gives)."""
        names = {path.name for path in data_dir.iterdir()}
        return "verifier.sqlite3" in names and not any(n.startswith("master.key") for n in names)


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[Layout]:
    found = Layout(tmp_path)
    yield found
    found.secrets.chmod(0o755)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(argv: list[str]) -> list[str]:
    """The image's `python` and the programs on its PATH (/opt/baoling/bin) from this venv.

    Run by root, the command loses every capability (setpriv), so file modes bind it as they
    bind the unprivileged user of a container or a systemd service.
    """
    program = argv[0].removeprefix("/opt/baoling/bin/")
    if program == "python":
        found = [sys.executable, *argv[1:]]
    else:
        assert "/" not in program, argv
        found = [str(VENV_BIN / program), *argv[1:]]
    if os.geteuid() == 0:
        return ["setpriv", "--inh-caps=-all", "--bounding-set=-all", *found]
    return found


def child_env(layout: Layout, settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAOLING_")}
    return env | {"HOME": str(layout.base)} | settings


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command(argv), env=env, capture_output=True, text=True, timeout=60)


class Server:
    """A server started from a deploy file's command, stopped as Docker and systemd do."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command(argv),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Default dispositions whatever the suite inherited (docs: a runner may ignore
                # SIGINT); the server is stopped with SIGTERM anyway.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )

    def output(self) -> str:
        return self.log.read_text()

    def health(self) -> subprocess.CompletedProcess:
        """The image's HEALTHCHECK command, as Docker runs it inside the container."""
        return run(health_check(), self.env)

    def wait_healthy(self, timeout_s: float = 60.0) -> None:
        """Wait until /healthz answers (asked from here: a new interpreter every 0.2 s would
        slow the start it waits for), then run the image's health check once."""
        url = f"http://127.0.0.1:{self.env['BAOLING_HTTP_PORT']}/healthz"
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process.poll() is None, f"the server exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"never healthy:\n{self.output()}"
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        check = self.health()
        assert check.returncode == 0, check.stderr

    def stop(self) -> int:
        """SIGTERM (docker stop, systemctl stop), SIGKILL after 10 s as they do; the exit
        status (negative: the signal that ended it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def image_settings() -> dict[str, str]:
    return {k: v for k, v in image_env().items() if k.startswith("BAOLING_")}


def test_image_command_serves_and_its_health_check_tells(layout: Layout):
    data = layout.data_dir("data")
    settings = image_settings() | {
        "BAOLING_DATA_DIR": str(data),
        "BAOLING_MASTER_KEY_FILE": str(layout.key),
        "BAOLING_HTTP_PORT": str(free_port()),
    }
    server = Server(image_command(), child_env(layout, settings), layout.base / "server.log")
    try:
        server.wait_healthy()
    finally:
        status = server.stop()
    assert status == 0, server.output()
    assert layout.uses_the_mounted_key(data)
    down = server.health()
    assert down.returncode == 1 and "Connection refused" in down.stderr


def test_unit_command_serves_with_its_environment_and_credential(layout: Layout):
    (exec_start,) = unit_values("ExecStart")
    settings = dict(value.split("=", 1) for value in unit_values("Environment"))
    assert settings == {
        "BAOLING_DATA_DIR": "/var/lib/baoling",
        "BAOLING_MASTER_KEY_FILE": "%d/master.key",
    }
    settings = {
        "BAOLING_DATA_DIR": str(layout.data_dir("state")),
        # %d is the service's credentials folder: one the service can read, not write.
        "BAOLING_MASTER_KEY_FILE": str(layout.key),
        # What /etc/baoling/verifier.env would hold.
        "BAOLING_HTTP_PORT": str(free_port()),
    }
    server = Server(shlex.split(exec_start), child_env(layout, settings), layout.base / "log")
    try:
        server.wait_healthy()
    finally:
        status = server.stop()
    assert status == 0, server.output()
    assert layout.uses_the_mounted_key(Path(settings["BAOLING_DATA_DIR"]))


def test_compose_nodes_start_only_after_the_migrate_step(
    layout: Layout, postgres_server: PostgresServer
):
    """A node refuses a database on an older schema; the migrate step upgrades it, and then
    both nodes serve it with the one master key."""
    url = postgres_server.create_database()  # stands in for the compose file's URL (checked above)
    Store(url).migrate(target=SCHEMA_VERSION - 1)  # as the previous release left it

    def env(service: dict, name: str) -> dict[str, str]:
        settings = image_settings() | service["environment"]
        settings |= {
            "BAOLING_STORE_URL": url,
            "BAOLING_DATA_DIR": str(layout.data_dir(name)),
            "BAOLING_MASTER_KEY_FILE": str(layout.key),
            "BAOLING_HTTP_PORT": str(free_port()),
        }
        return child_env(layout, settings)

    nodes = list(verifier_nodes().values())
    early = Server(image_command(), env(nodes[0], "early"), layout.base / "early.log")
    try:
        early.process.wait(timeout=60)
    finally:
        status = early.stop()
    assert status == 1, early.output()
    assert "run `baoling verifier migrate`" in early.output()

    migrate = compose()["services"]["migrate"]
    done = run(migrate["command"], env(migrate, "migrate"))
    assert done.returncode == 0, done.stdout + done.stderr

    servers = [
        Server(image_command(), env(node, f"node-{n}"), layout.base / f"node-{n}.log")
        for n, node in enumerate(nodes)
    ]
    try:
        for server in servers:
            server.wait_healthy()
    finally:
        statuses = [server.stop() for server in servers]
    assert statuses == [0, 0], [server.output() for server in servers]
