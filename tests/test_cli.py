"""The `baoling` entry point: its groups exist and usage errors keep click's exit code 2."""

import subprocess
import sys

from click.testing import CliRunner

from baoling.host_tools.cli import cli


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
