"""The `baoling` entry point: its groups exist, usage errors keep click's exit code 2, and with
--json every error is one JSON object on stderr."""

import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from baoling.host_tools.cli import cli, error_code
from baoling.provisioning.errors import BaolingError
from baoling.verifier.errors import VerifierError


def test_help_lists_the_command_groups():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for group in ("token", "verifier", "sim", "demo"):
        assert f"\n  {group} " in result.output


def test_unknown_command_is_a_usage_error_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", "no-such-command"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "No such command 'no-such-command'" in proc.stderr
    assert "Traceback" not in proc.stderr


def baoling(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", *args], capture_output=True, text=True
    )


def fails_as_json(proc: subprocess.CompletedProcess[str], exit_code: int, error: dict) -> None:
    """A failure with --json: nothing on stdout, one JSON object on one line of stderr."""
    assert (proc.returncode, proc.stdout, proc.stderr.count("\n")) == (exit_code, "", 1)
    assert json.loads(proc.stderr) == error


def test_token_command_error_with_json_is_a_json_object(tmp_path):
    fails_as_json(
        baoling("token", "info", "--port", str(tmp_path), "--json"),
        1,
        {
            "error": "not_a_serial_port",
            "message": f"{tmp_path} is a folder, not a serial port. Give the token's port, such "
            "as /dev/ttyACM0 (`baoling token list` shows the tokens it finds).",
        },
    )


def test_verifier_command_error_with_json_is_a_json_object(tmp_path):
    fails_as_json(
        baoling("verifier", "--data-dir", str(tmp_path), "show", "nobody", "--json"),
        1,
        {"error": "unknown_token", "message": "no token 'nobody' is enrolled"},
    )


def test_usage_error_with_json_is_a_json_object_and_keeps_exit_code_2(tmp_path):
    fails_as_json(
        baoling("verifier", "--data-dir", str(tmp_path), "list", "--json", "--colour"),
        2,
        {"error": "usage_error", "message": "No such option '--colour'."},
    )


def test_json_after_a_double_dash_is_an_argument_not_the_flag(tmp_path):
    proc = baoling("token", "info", "--port", str(tmp_path), "--", "--json")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith("Error: Got unexpected extra words")


def error_classes() -> set[type[Exception]]:
    """Every provisioning and verifier error class, with every module of baoling imported so
    that none is missed."""
    for name in ("baoling.provisioning", "baoling.verifier", "baoling.host_tools"):
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            if not module.name.endswith(".__main__"):  # importing one runs it
                importlib.import_module(module.name)
    found, todo = set(), [BaolingError, VerifierError]
    while todo:
        kind = todo.pop()
        found.add(kind)
        todo += kind.__subclasses__()
    return found - {BaolingError, VerifierError}  # the bases are never raised themselves


def test_docs_list_the_json_error_code_of_every_error_class():
    text = (Path(__file__).parent.parent / "docs/cli.md").read_text()
    section = text[text.index("## Errors as JSON") :]
    table = section[section.index("| `error` |") :].split("\n\n")[0]
    documented = {
        code for row in table.splitlines()[2:] for code in re.findall(r"`(\w+)`", row.split("|")[1])
    }
    raised = {error_code(kind.__new__(kind)) for kind in error_classes()}
    assert documented == raised | {"usage_error", "aborted", "failed"}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("NotASerialPort", "not_a_serial_port"),
        ("PSKCImportError", "pskc_import_error"),
        ("BadURI", "bad_uri"),
        ("TokenExists", "token_exists"),
    ],
)
def test_error_code_is_the_class_name_in_snake_case(name, code):
    assert error_code(type(name, (Exception,), {})()) == code


BAOLING = Path(sys.executable).parent / "baoling"  # the installed console script


def test_bash_completion_script_from_the_real_command_completes_in_bash():
    """The line docs/cli.md gives for ~/.bashrc, in a real bash: groups, then subcommands."""
    script = (
        'eval "$(_BAOLING_COMPLETE=bash_source baoling)"\n'
        "complete -p baoling\n"
        "COMP_WORDS=(baoling ''); COMP_CWORD=1; _baoling_completion baoling\n"
        'echo "${COMPREPLY[*]}"; COMPREPLY=()\n'
        "COMP_WORDS=(baoling verifier au); COMP_CWORD=2; _baoling_completion baoling\n"
        'echo "${COMPREPLY[*]}"\n'
    )
    proc = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": f"{BAOLING.parent}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines() == [
        "complete -o nosort -F _baoling_completion baoling",
        "demo sim token verifier",
        "audit",
    ]


def test_bash_complete_protocol_completes_a_subcommand_and_an_option():
    def complete(words: str, cword: int) -> list[str]:
        env = dict(COMP_WORDS=words, COMP_CWORD=str(cword), _BAOLING_COMPLETE="bash_complete")
        proc = subprocess.run([BAOLING], env=env, capture_output=True, text=True)
        assert (proc.returncode, proc.stderr) == (0, "")
        return proc.stdout.splitlines()

    assert complete("baoling verifier sh", 2) == ["plain,show"]
    assert complete("baoling token info --po", 3) == ["plain,--port"]


@pytest.mark.parametrize(
    ("shell", "first_line"),
    [("zsh", "#compdef baoling"), ("fish", "function _baoling_completion;")],
)
def test_zsh_and_fish_completion_scripts_are_produced(shell, first_line):
    proc = subprocess.run(
        [BAOLING], env={"_BAOLING_COMPLETE": f"{shell}_source"}, capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0] == first_line
    assert "_BAOLING_COMPLETE=" in proc.stdout  # it calls the command back to complete
