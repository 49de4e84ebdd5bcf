"""README.md's set-up section names everything scripts/bootstrap.sh installs, so a newcomer
knows what lands on the machine: every Debian package, every Python package and extra."""

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def setup_section() -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index("### What the set-up installs")
    return readme[start : readme.index("\n## ", start)]


def test_every_debian_package_bootstrap_installs_is_named_with_its_reason():
    bootstrap = (REPO / "scripts/bootstrap.sh").read_text()
    packages = re.findall(r"need_debs\+=\(([\w.+-]+)\)", bootstrap)
    assert len(packages) >= 3
    lines = [line.strip() for line in setup_section().splitlines()]
    rows = {row.split("|")[1].strip(" `"): row for row in lines if row.startswith("|")}
    for package in packages:
        assert package in rows, f"README's set-up does not name the Debian package {package}"
        assert len(rows[package].split("|")[2].strip()) > 10, f"no reason given for {package}"


def test_every_python_package_and_the_test_extra_are_named():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    section = setup_section()
    for spec in specs:
        name = re.match(r"[A-Za-z0-9_.\-]+(\[[\w,]+\])?", spec)[0]
        assert f"`{name}`" in section, f"README's set-up does not name {name}"
    assert "`pip install -e '.[test]'`" in section
