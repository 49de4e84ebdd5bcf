"""The deploy files (deploy/) checked against the code they start, as far as this machine can.

Docker has no engine here, so the image is never built and no container runs. What the files
say is run instead, with the paths they name moved into a temporary folder: the image's command
and health check, the compose file's migrate step and its two nodes on a real PostgreSQL, and
the systemd unit's command. The servers cannot write the folder holding the master key, as in
a container (/run/secrets) and under systemd (the credentials folder). systemd-analyze checks
the unit.
"""

import json
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent
SYSTEMD_ANALYZE = "systemd-analyze"  # scripts/bootstrap.sh installs it

# The settings contract of `serve` until baoling.verifier.settings holds its model.
CONTRACT_FIELDS = (
    "data_dir",
    "store_url",
    "master_key_file",
    "http_host",
    "http_port",
    "radius",
    "radius_config",
    "window_steps",
    "lockout_after",
    "lockout_seconds",
    "lockout_tz",
    "drift_learning",
)


def setting_variables() -> set[str]:
    """Every environment variable the verifier reads: BAOLING_<FIELD> and BAOLING_CONFIG."""
    return {f"BAOLING_{field.upper()}" for field in CONTRACT_FIELDS} | {"BAOLING_CONFIG"}


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
    assert set(re.findall(r"chown (\d+):", docs)) == {uid}


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
    for name, node in [*verifier_nodes().items(), ("migrate", spec["services"]["migrate"])]:
        url = node["environment"]["BAOLING_STORE_URL"]
        match = re.fullmatch(r"postgresql\+psycopg://(\w+):([^@]+)@(\w+):5432/(\w+)", url)
        assert match, (name, url)
        assert match[1] == postgres["POSTGRES_USER"] and match[4] == postgres["POSTGRES_DB"]
        assert match[2] == postgres["POSTGRES_PASSWORD"]
        assert match[3] == "postgres"
        assert node["secrets"] == ["baoling_master_key"], name
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
    # An unknown or misspelt option is only a warning: the output must be empty too.
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


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
