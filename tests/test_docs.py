"""Every shell example in README.md and docs/ runs, so the documentation cannot rot.

A ```sh block is run with bash -e in a fresh folder, with the project's venv first on PATH and
$REPO naming the repository. A block that cannot run here (real hardware, a server left
running) is preceded by `<!-- not run: reason -->` and is skipped by design, not by accident.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"(?P<marker><!-- not run: [^>]+-->\s*\n)?```sh\n(?P<body>.*?)```", re.S)


def runnable_blocks() -> list[tuple[str, str]]:
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    blocks = []
    for doc in docs:
        for n, match in enumerate(FENCE.finditer(doc.read_text()), start=1):
            if not match["marker"]:
                blocks.append((f"{doc.relative_to(REPO)}#{n}", match["body"]))
    return blocks


@pytest.mark.parametrize(("where", "script"), runnable_blocks())
def test_doc_example_runs(where: str, script: str, tmp_path: Path):
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ, REPO=str(REPO), PATH=f"{venv_bin}:{os.environ['PATH']}")
    proc = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"{where} failed:\n{proc.stdout}\n{proc.stderr}"
